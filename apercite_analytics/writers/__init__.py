"""Writers: the nodes at the end of the graph. They know the store and nothing about sources."""
