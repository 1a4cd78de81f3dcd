// Package nodes applies and verifies tenant node pinning: a label and a NoSchedule taint per tenant node.
// Helm cannot own Nodes, so this is what `gkt nodes assign|verify` runs.
package nodes

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/tenants"
)

// Change is one node modification made (or needed).
type Change struct {
	Node   string
	Tenant string
	What   string
}

func (c Change) String() string {
	return fmt.Sprintf("node %s (tenant %s): %s", c.Node, c.Tenant, c.What)
}

// Assign labels and taints every node listed for the tenants. A node already marked for another tenant is refused
// unless force is set (then it is moved). It is idempotent: a second run changes nothing.
func Assign(ctx context.Context, cs kubernetes.Interface, set *tenants.Set, list []tenants.Tenant, force bool) ([]Change, error) {
	p := set.NodePinning
	var changes []Change
	for _, t := range list {
		for _, name := range t.Nodes {
			err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
				n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return fmt.Errorf("node %s of tenant %s: %w", name, t.Name, err)
				}
				if owner, ok := n.Labels[p.LabelKey]; ok && owner != t.Name && !force {
					return fmt.Errorf("node %s is labelled %s=%s; it belongs to another tenant (use --force to move it)", name, p.LabelKey, owner)
				}
				var local []Change
				if n.Labels == nil {
					n.Labels = map[string]string{}
				}
				want := map[string]string{p.LabelKey: t.Name}
				for k, v := range p.ExtraLabels {
					want[k] = v
				}
				for k, v := range want {
					if n.Labels[k] != v {
						n.Labels[k] = v
						local = append(local, Change{name, t.Name, fmt.Sprintf("label %s=%s", k, v)})
					}
				}
				taint := corev1.Taint{Key: p.TaintKey, Value: t.Name, Effect: corev1.TaintEffectNoSchedule}
				var kept []corev1.Taint
				has := false
				for _, tt := range n.Spec.Taints {
					switch {
					case tt.Key == taint.Key && tt.Value == taint.Value && tt.Effect == taint.Effect:
						has = true
						kept = append(kept, tt)
					case tt.Key == taint.Key:
						local = append(local, Change{name, t.Name, fmt.Sprintf("remove taint %s=%s:%s", tt.Key, tt.Value, tt.Effect)})
					default:
						kept = append(kept, tt)
					}
				}
				if !has {
					kept = append(kept, taint)
					local = append(local, Change{name, t.Name, fmt.Sprintf("taint %s=%s:NoSchedule", taint.Key, taint.Value)})
				}
				if len(local) == 0 {
					return nil
				}
				n.Spec.Taints = kept
				if _, err := cs.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
					return err
				}
				changes = append(changes, local...)
				return nil
			})
			if err != nil {
				return changes, err
			}
		}
	}
	return changes, nil
}

// Problem is a verification finding.
type Problem struct {
	Node, Tenant, Message string
}

func (p Problem) String() string {
	return fmt.Sprintf("node %s (tenant %s): %s", p.Node, p.Tenant, p.Message)
}

// Verify checks that every listed node carries its tenant's label and taint, and that no other node carries a
// tenant's label (a node labelled but not listed would attract that tenant's pods without being reviewed).
func Verify(ctx context.Context, cs kubernetes.Interface, set *tenants.Set, list []tenants.Tenant) ([]Problem, error) {
	p := set.NodePinning
	all, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	byName := map[string]*corev1.Node{}
	for i := range all.Items {
		byName[all.Items[i].Name] = &all.Items[i]
	}
	listed := map[string]string{}
	var probs []Problem
	for _, t := range list {
		if len(t.Nodes) == 0 {
			probs = append(probs, Problem{"-", t.Name, "no nodes listed: its pods could not be scheduled"})
		}
		for _, name := range t.Nodes {
			listed[name] = t.Name
			n, ok := byName[name]
			if !ok {
				probs = append(probs, Problem{name, t.Name, "node does not exist"})
				continue
			}
			if got := n.Labels[p.LabelKey]; got != t.Name {
				probs = append(probs, Problem{name, t.Name, fmt.Sprintf("label %s is %q, want %q", p.LabelKey, got, t.Name)})
			}
			for k, v := range p.ExtraLabels {
				if n.Labels[k] != v {
					probs = append(probs, Problem{name, t.Name, fmt.Sprintf("label %s is %q, want %q", k, n.Labels[k], v)})
				}
			}
			found := false
			for _, tt := range n.Spec.Taints {
				if tt.Key == p.TaintKey && tt.Value == t.Name && tt.Effect == corev1.TaintEffectNoSchedule {
					found = true
				}
			}
			if !found {
				probs = append(probs, Problem{name, t.Name, fmt.Sprintf("taint %s=%s:NoSchedule missing", p.TaintKey, t.Name)})
			}
		}
	}
	wanted := map[string]bool{}
	for _, t := range list {
		wanted[t.Name] = true
	}
	for name, n := range byName {
		if owner, ok := n.Labels[p.LabelKey]; ok && wanted[owner] && listed[name] != owner {
			probs = append(probs, Problem{name, owner, "carries the tenant label but is not listed in tenant-bootstrap values"})
		}
	}
	sort.Slice(probs, func(i, j int) bool { return probs[i].String() < probs[j].String() })
	return probs, nil
}

// Pin assigns every tenant's nodes (without force) and verifies the result: the one call for tools that bring a
// cluster to the pinning tenant-bootstrap describes. It fails with the problems Verify still finds.
func Pin(ctx context.Context, cs kubernetes.Interface, set *tenants.Set) ([]Change, error) {
	changes, err := Assign(ctx, cs, set, set.Sorted(), false)
	if err != nil {
		return changes, err
	}
	probs, err := Verify(ctx, cs, set, set.Sorted())
	if err != nil {
		return changes, err
	}
	if len(probs) > 0 {
		return changes, fmt.Errorf("node pinning: %v", probs)
	}
	return changes, nil
}

// UserNamespaces checks that the kubelet of every listed node reports user-namespace support for its default
// runtime handler (Node status.runtimeHandlers, from the CRI: containerd >= 2.0 or CRI-O >= 1.25 on Linux >= 6.3).
// Job pods of a tenant with jobs.userNamespaces (the chart's default) cannot start on a node without it.
func UserNamespaces(ctx context.Context, cs kubernetes.Interface, list []tenants.Tenant) ([]Problem, error) {
	var probs []Problem
	for _, t := range list {
		for _, name := range t.Nodes {
			n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("node %s: %w", name, err)
			}
			if ok, why := SupportsUserNamespaces(n); !ok {
				probs = append(probs, Problem{name, t.Name, why + ": job pods with hostUsers: false cannot start here; upgrade the runtime, or set jobs.userNamespaces=false for this tenant (docs/security.md)"})
			}
		}
	}
	sort.Slice(probs, func(i, j int) bool { return probs[i].String() < probs[j].String() })
	return probs, nil
}

// SupportsUserNamespaces reports whether the node's kubelet says its default runtime handler (name "") supports
// user namespaces, and if not, what it says instead.
func SupportsUserNamespaces(n *corev1.Node) (bool, string) {
	for _, h := range n.Status.RuntimeHandlers {
		if h.Name != "" {
			continue
		}
		if h.Features == nil || h.Features.UserNamespaces == nil {
			return false, "the kubelet reports no user-namespace feature for the default runtime handler"
		}
		if !*h.Features.UserNamespaces {
			return false, "the runtime does not support user namespaces (status.runtimeHandlers: userNamespaces=false)"
		}
		return true, ""
	}
	return false, "the kubelet reports no default runtime handler (status.runtimeHandlers is empty: a runtime older than the CRI's RuntimeHandlerFeatures)"
}

// CgroupFreeze checks, through the API server's node proxy (nodes/proxy), that no listed node runs cgroup v1 with
// the systemd cgroup driver: there runc freezes every new container's cgroup while systemd applies its unit, and
// gives up with "unable to freeze" when many containers start at once, so some job pods of a burst fail to start
// (kubernetes/kubernetes#131087; 3 to 4 of 21 here). cgroup v2, or the cgroupfs driver on cgroup v1, does not freeze.
func CgroupFreeze(ctx context.Context, cs kubernetes.Interface, list []tenants.Tenant) ([]Problem, error) {
	var probs []Problem
	for _, t := range list {
		for _, name := range t.Nodes {
			c, err := ReadKubeletCgroups(ctx, cs, name)
			if err != nil {
				return nil, err
			}
			if why := c.FreezeRisk(); why != "" {
				probs = append(probs, Problem{name, t.Name, why})
			}
		}
	}
	sort.Slice(probs, func(i, j int) bool { return probs[i].String() < probs[j].String() })
	return probs, nil
}

// KubeletCgroups is what a node's kubelet says about its cgroups.
type KubeletCgroups struct {
	Driver  string // kubelet configuration cgroupDriver (/configz): systemd or cgroupfs
	Version int    // kubelet_cgroup_version (/metrics, Kubernetes >= 1.31): 1 or 2; 0 when the kubelet does not say
}

// FreezeRisk is why the node fails container starts under bursts, or "" when it does not.
func (c KubeletCgroups) FreezeRisk() string {
	if c.Version != 1 || c.Driver != "systemd" {
		return ""
	}
	return "cgroup v1 with the systemd cgroup driver: runc freezes each new container's cgroup and gives up under a burst of pod starts (\"unable to freeze\", kubernetes/kubernetes#131087), failing those job pods; move the node to cgroup v2, or set the cgroupfs driver in both the kubelet (cgroupDriver) and containerd (SystemdCgroup = false) (docs/security.md)"
}

// ReadKubeletCgroups reads the cgroup driver from the kubelet's /configz and the cgroup version from its /metrics,
// both through the API server's node proxy.
func ReadKubeletCgroups(ctx context.Context, cs kubernetes.Interface, node string) (KubeletCgroups, error) {
	var c KubeletCgroups
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", node, "proxy", "configz").DoRaw(ctx)
	if err != nil {
		return c, fmt.Errorf("node %s: reading the kubelet's configuration (/configz through the node proxy): %w", node, err)
	}
	var cfg struct {
		Kubelet struct {
			CgroupDriver string `json:"cgroupDriver"`
		} `json:"kubeletconfig"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return c, fmt.Errorf("node %s: the kubelet's /configz is not JSON: %w", node, err)
	}
	c.Driver = cfg.Kubelet.CgroupDriver
	if c.Driver == "" {
		c.Driver = "cgroupfs" // the KubeletConfiguration default
	}
	raw, err = cs.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", node, "proxy", "metrics").DoRaw(ctx)
	if err != nil {
		return c, fmt.Errorf("node %s: reading the kubelet's metrics (through the node proxy): %w", node, err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "kubelet_cgroup_version "); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				c.Version = n
			}
		}
	}
	return c, nil
}
