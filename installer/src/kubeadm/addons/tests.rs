//! Unit tests of the renderers against KUBEADM.md §5.5/§5.6.
