"""Graph -> Graph passes: requires_grad pruning, dead-node elimination, adjoint generation, CSE,
simplification; and the gradient rules they (and eager autograd) share."""
