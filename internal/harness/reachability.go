package harness

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/connectivity"
)

// Path is one source → destination:port verdict of a reachability matrix.
type Path struct {
	From, To   string
	FromTenant string
	ToTenant   string // "" for destinations outside every tenant
	Port       int
	Proto      corev1.Protocol
	Allowed    bool
}

// Key identifies a path across revisions.
func (p Path) Key() string { return fmt.Sprintf("%s → %s:%d/%s", p.From, p.To, p.Port, p.Proto) }

// Reachability evaluates, with the policy engine, every source pod of the install against every destination the
// policies mention (pods of every tenant, every ipBlock, every selected namespace) on every port they mention.
// It needs no expectations, so it can compare two revisions (gkt review) or check absolute rules.
func Reachability(r *Rendered) ([]Path, error) {
	eng, err := policyEngine(r)
	if err != nil {
		return nil, err
	}
	var sources, dests []endpoint
	for _, t := range sortedKeys(r.Tenants) {
		tp := peersOf(r, t)
		for _, p := range []*connectivity.Peer{tp.job, tp.manager, tp.registry} {
			if p != nil {
				sources = append(sources, endpoint{*p, t})
				dests = append(dests, endpoint{*p, t})
			}
		}
	}
	sources = append(sources, endpoint{monitoringPod, ""}, endpoint{strangerPod, ""})
	dests = append(dests, endpoint{strangerPod, ""}, endpoint{internetIP, ""})
	policyDests, ports := policyDestinations(eng.Policies())
	dests = append(dests, policyDests...)
	var out []Path
	for _, s := range sources {
		for _, d := range dests {
			if s.peer.Name == d.peer.Name {
				continue
			}
			for _, port := range ports {
				proto := corev1.ProtocolTCP
				if port == 53 {
					proto = corev1.ProtocolUDP
				}
				out = append(out, Path{From: s.peer.Name, To: d.peer.Name, FromTenant: s.tenant, ToTenant: d.tenant, Port: port, Proto: proto,
					Allowed: eng.Allowed(s.peer, d.peer, port, proto)})
			}
		}
	}
	return out, nil
}

// endpoint is a peer of the reachability table and the tenant it belongs to ("" for none).
type endpoint struct {
	peer   connectivity.Peer
	tenant string
}

// policyDestinations are the destinations the policies' egress rules mention (each ipBlock but 0.0.0.0/0, which the
// internet host stands for, and each selected namespace's pods), and the ports to probe: the usual ones and every
// port a rule names, sorted.
func policyDestinations(policies []*networkingv1.NetworkPolicy) ([]endpoint, []int) {
	var dests []endpoint
	ports := map[int]bool{80: true, 443: true, 53: true, 5000: true, 9252: true, 6443: true}
	seen := map[string]bool{}
	for _, np := range policies {
		for _, rule := range np.Spec.Egress {
			for _, p := range rule.Ports {
				if p.Port != nil && p.Port.IntValue() > 0 {
					ports[p.Port.IntValue()] = true
				}
			}
			for _, peer := range rule.To {
				switch {
				case peer.IPBlock != nil:
					ip, _, err := net.ParseCIDR(peer.IPBlock.CIDR)
					if err != nil || seen[peer.IPBlock.CIDR] || peer.IPBlock.CIDR == "0.0.0.0/0" {
						seen[peer.IPBlock.CIDR] = true
						continue
					}
					seen[peer.IPBlock.CIDR] = true
					dests = append(dests, endpoint{connectivity.Peer{Name: peer.IPBlock.CIDR, IP: ip.String()}, ""})
				case peer.NamespaceSelector != nil:
					ns := peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]
					if ns == "" {
						continue
					}
					labels := map[string]string{}
					if peer.PodSelector != nil {
						labels = peer.PodSelector.MatchLabels
					}
					name := "pods in namespace " + ns
					if seen[name+fmt.Sprint(labels)] {
						continue
					}
					seen[name+fmt.Sprint(labels)] = true
					dests = append(dests, endpoint{connectivity.Peer{Name: name, Namespace: ns, NSLabels: map[string]string{"kubernetes.io/metadata.name": ns}, Labels: labels}, ""})
				}
			}
		}
	}
	return dests, slices.Sorted(maps.Keys(ports))
}

// ConnectivityFinding is a path that breaks a rule that holds for any install.
type ConnectivityFinding struct {
	Path        Path
	Message     string
	CrossTenant bool // from one tenant's pod to another tenant's
}

// CheckConnectivityRules checks the rules that hold for any install, without expectations per permutation:
// no pod of one tenant reaches a pod of another; the metrics port only from the monitoring namespace.
func CheckConnectivityRules(r *Rendered) ([]ConnectivityFinding, error) {
	paths, err := Reachability(r)
	if err != nil {
		return nil, err
	}
	var bad []ConnectivityFinding
	for _, p := range paths {
		if !p.Allowed {
			continue
		}
		switch {
		case p.FromTenant != "" && p.ToTenant != "" && p.FromTenant != p.ToTenant && r.Namespace[p.FromTenant] != r.Namespace[p.ToTenant]:
			bad = append(bad, ConnectivityFinding{p, p.Key() + " crosses from tenant " + p.FromTenant + " to another tenant (" + p.ToTenant + ")", true})
		case p.Port == 9252 && p.From != monitoringPod.Name && p.ToTenant != "":
			bad = append(bad, ConnectivityFinding{p, p.Key() + " reaches the metrics port from outside the monitoring namespace", false})
		}
	}
	return bad, nil
}

// InstallFinding is one finding of CheckInstall: the check's finding, and whether it crosses tenants.
type InstallFinding struct {
	Finding
	CrossTenant bool
}

// CheckInstall is the one install check that gkt review, gkt tenant new and the harness share: it renders in for
// each Kubernetes version, runs every object and install check, the peer namespaces (PeerNamespaceFindings), the
// runner profiles' tags across tenants (ProfileTagFindings) and the connectivity rules, and returns the first version's render with every finding (typed: tenant, check,
// cross-tenant). A policy engine that cannot evaluate the NetworkPolicies is a finding, not a clean result. A render
// error is returned as the error.
func (c *Checker) CheckInstall(name string, in Install, kubeVersions []string) (*Rendered, []InstallFinding, error) {
	var first *Rendered
	var out []InstallFinding
	for i, v := range kubeVersions {
		r, err := c.RenderInstall(in, v, "")
		if err != nil {
			return nil, nil, err
		}
		if i == 0 {
			first = r
			// the install-time peer check of the tenant chart, from the tenants file (the same for every version)
			out = append(out, PeerNamespaceFindings(name, r.Bootstrap.Objects(), in.Namespace, c.withDefaults(in.Tenants))...)
			out = append(out, ProfileTagFindings(name, in.Tenants)...)
		}
		for _, f := range c.CheckRendered(name, v, r).Findings {
			out = append(out, InstallFinding{Finding: f})
		}
		bad, err := CheckConnectivityRules(r)
		if err != nil {
			out = append(out, InstallFinding{Finding: Finding{Permutation: name, Object: "(network)", Check: "static connectivity",
				Message: "the policy engine could not evaluate the NetworkPolicies: " + err.Error()}})
			continue
		}
		for _, b := range bad {
			out = append(out, InstallFinding{Finding: Finding{Permutation: name, Object: "(network)", Check: "static connectivity", Message: b.Message, Tenant: b.Path.FromTenant},
				CrossTenant: b.CrossTenant})
		}
	}
	return first, out, nil
}

// ReachChange is a path whose verdict differs between two installs, in words.
type ReachChange struct {
	Line        string
	CrossTenant bool // a path from one tenant to another that is now open
}

// ReachChanges lists paths whose verdict differs between two installs.
func ReachChanges(base, head *Rendered) ([]ReachChange, error) {
	hp, err := Reachability(head)
	if err != nil {
		return nil, err
	}
	before := map[string]bool{}
	if base != nil {
		bp, err := Reachability(base)
		if err != nil {
			return nil, err
		}
		for _, p := range bp {
			before[p.Key()] = p.Allowed
		}
	}
	var out []ReachChange
	for _, p := range hp {
		was, known := before[p.Key()]
		if known && was == p.Allowed || !known && !p.Allowed {
			continue
		}
		verb := "can now reach"
		if !p.Allowed {
			verb = "can no longer reach"
		}
		c := ReachChange{Line: fmt.Sprintf("%s %s %s on %s/%s", p.From, verb, p.To, strconv.Itoa(p.Port), p.Proto)}
		if p.Allowed && p.FromTenant != "" && p.ToTenant != "" && p.FromTenant != p.ToTenant {
			c.Line += " (another tenant)"
			c.CrossTenant = true
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Line < out[j].Line })
	return out, nil
}
