package render

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
)

// A render either has no cluster (helm template, --dry-run, GitOps tools: every `lookup` returns nothing) or sees
// the objects of a modelled cluster (helm install/upgrade: `lookup` answers). Options.Cluster picks the second.

// clusterLookups answers Helm's `lookup` from a fixed set of objects, the way the API server would at install time.
type clusterLookups struct {
	client dynamic.Interface
	known  map[string]clusterKind // "apiVersion/Kind" → resource
}

type clusterKind struct {
	gvr        schema.GroupVersionResource
	namespaced bool
}

// installTimeKinds are the kinds the charts look up, with their resources.
var installTimeKinds = map[string]clusterKind{
	"discovery.k8s.io/v1/EndpointSlice": {schema.GroupVersionResource{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"}, true},
	"v1/ResourceQuota":                  {schema.GroupVersionResource{Version: "v1", Resource: "resourcequotas"}, true},
	"v1/Namespace":                      {schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}, false},
	"v1/Node":                           {schema.GroupVersionResource{Version: "v1", Resource: "nodes"}, false},
}

func newClusterLookups(objs []*unstructured.Unstructured) (*clusterLookups, error) {
	lists := map[schema.GroupVersionResource]string{}
	for key, k := range installTimeKinds {
		lists[k.gvr] = key[strings.LastIndex(key, "/")+1:] + "List"
	}
	var rt []runtime.Object
	for _, o := range objs {
		if _, ok := installTimeKinds[o.GetAPIVersion()+"/"+o.GetKind()]; !ok {
			return nil, fmt.Errorf("modelled cluster: %s %s is not a kind the charts look up", o.GetAPIVersion(), o.GetKind())
		}
		rt = append(rt, o.DeepCopy())
	}
	return &clusterLookups{client: dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), lists, rt...), known: installTimeKinds}, nil
}

// ClusterLookups answers `lookup` from objs the way helm install does against a cluster holding them: Helm's
// engine.ClientProvider (Helm 3 and Helm 4 share its method), for renderers other than Chart.Render (render4).
func ClusterLookups(objs []*unstructured.Unstructured) (interface {
	GetClientFor(apiVersion, kind string) (dynamic.NamespaceableResourceInterface, bool, error)
}, error) {
	l, err := newClusterLookups(objs)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// GetClientFor is Helm's engine.ClientProvider.
func (c *clusterLookups) GetClientFor(apiVersion, kind string) (dynamic.NamespaceableResourceInterface, bool, error) {
	k, ok := c.known[apiVersion+"/"+kind]
	if !ok {
		return nil, false, fmt.Errorf("modelled cluster: a template looks up %s %s, which the model does not hold; add it to render.installTimeKinds", apiVersion, kind)
	}
	return c.client.Resource(k.gvr), k.namespaced, nil
}

// APIServerEndpoints is the EndpointSlice default/kubernetes of a cluster whose API server listens on addrs (what
// the tenant chart looks up for the manager's API egress).
func APIServerEndpoints(addrs ...string) *unstructured.Unstructured {
	var eps []any
	for _, a := range addrs {
		eps = append(eps, map[string]any{"addresses": []any{a}})
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
		"metadata":    map[string]any{"name": "kubernetes", "namespace": "default", "labels": map[string]any{"kubernetes.io/service-name": "kubernetes"}},
		"addressType": "IPv4", "endpoints": eps,
		"ports": []any{map[string]any{"name": "https", "port": int64(6443), "protocol": "TCP"}},
	}}
}

// ResourceQuota is a namespace quota with hard limits (e.g. "limits.cpu": "40"), as tenant-bootstrap installs it.
func ResourceQuota(namespace, name string, hard map[string]string) *unstructured.Unstructured {
	h := map[string]any{}
	for k, v := range hard {
		h[k] = v
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ResourceQuota",
		"metadata": map[string]any{"name": name, "namespace": namespace},
		"spec":     map[string]any{"hard": h},
	}}
}

// InstallCluster is the smallest cluster a `helm install` of the tenant chart can see: its API server on a kind
// control plane (172.18.0.4), no quota. For renders that stand in for an install whose values leave the lookups to
// the cluster (defaults, image lists, the job-pod model).
func InstallCluster() []*unstructured.Unstructured {
	return []*unstructured.Unstructured{APIServerEndpoints("172.18.0.4")}
}
