// Package connectivity evaluates rendered NetworkPolicies with a real policy engine (cyclonus' matcher, the engine
// behind its conformance tests) against a model of the pods of an install, and checks a truth table of who may talk
// to whom. No home-made matching: this package only builds peers and reads the engine's verdicts.
package connectivity

import (
	"fmt"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// Peer is a pod (namespace + labels) or an external IP.
type Peer struct {
	Name      string
	Namespace string
	NSLabels  map[string]string
	Labels    map[string]string
	IP        string
}

func (p Peer) traffic() *matcher.TrafficPeer {
	ip := p.IP
	if ip == "" {
		ip = "10.244.0.10" // pods have cluster IPs; ipBlock rules never name the pod network here
	}
	if p.Namespace == "" {
		return &matcher.TrafficPeer{IP: ip}
	}
	return &matcher.TrafficPeer{IP: ip, Internal: &matcher.InternalPeer{PodLabels: p.Labels, NamespaceLabels: p.NSLabels, Namespace: p.Namespace}}
}

// Engine holds the compiled policies of an install.
type Engine struct {
	policy   *matcher.Policy
	policies []*networkingv1.NetworkPolicy
}

// New compiles every NetworkPolicy among objs.
func New(objs []*unstructured.Unstructured) (*Engine, error) {
	var nps []*networkingv1.NetworkPolicy
	for _, o := range objs {
		if o.GetKind() != "NetworkPolicy" {
			continue
		}
		var np networkingv1.NetworkPolicy
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &np); err != nil {
			return nil, fmt.Errorf("NetworkPolicy %s/%s: %w", o.GetNamespace(), o.GetName(), err)
		}
		nps = append(nps, &np)
	}
	return &Engine{policy: matcher.BuildNetworkPolicies(true, nps), policies: nps}, nil
}

// Policies are the decoded NetworkPolicies the engine compiled.
func (e *Engine) Policies() []*networkingv1.NetworkPolicy { return e.policies }

// Allowed says whether from may open a connection to to on port/protocol (egress of from AND ingress of to).
func (e *Engine) Allowed(from, to Peer, port int, proto corev1.Protocol) bool {
	return e.policy.IsTrafficAllowed(&matcher.Traffic{Source: from.traffic(), Destination: to.traffic(), ResolvedPort: port, Protocol: proto}).IsAllowed()
}
