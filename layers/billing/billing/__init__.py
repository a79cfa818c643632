"""Domain package of the credits-and-billing service, shipped to every function as a layer."""
