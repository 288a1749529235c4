// Package kubeconfig writes the kubeconfig files skiff hands to its own
// components and to the user.
package kubeconfig
