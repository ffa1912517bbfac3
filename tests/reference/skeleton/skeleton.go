//go:build ignore

// Prints, as one JSON object, the zero value of each component configuration kubeadm marshals
// (ClusterConfiguration v1beta4, KubeletConfiguration v1beta1, KubeProxyConfiguration v1alpha1),
// exactly as Go's encoding/json writes it: every field without `omitempty`, with its zero value.
// kubeadm marshals these types, so a document it writes is this skeleton with its values over it.
// Run by tests/reference/build.sh VERSION skeleton inside the wrapper module of VERSION.
package main

import (
	"encoding/json"
	"os"

	kubeproxyconfig "k8s.io/kube-proxy/config/v1alpha1"
	kubeletconfig "k8s.io/kubelet/config/v1beta1"
	kubeadm "k8s.io/kubernetes/cmd/kubeadm/app/apis/kubeadm/v1beta4"
)

func main() {
	out := map[string]any{
		"ClusterConfiguration":   kubeadm.ClusterConfiguration{},
		"KubeletConfiguration":   kubeletconfig.KubeletConfiguration{},
		"KubeProxyConfiguration": kubeproxyconfig.KubeProxyConfiguration{},
	}
	encoder := json.NewEncoder(os.Stdout)
	encoder.SetIndent("", "  ")
	if err := encoder.Encode(out); err != nil {
		panic(err)
	}
}
