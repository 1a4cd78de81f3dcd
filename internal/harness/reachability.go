package harness

import (
	"fmt"
	"net"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"

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
	type ep struct {
		peer   connectivity.Peer
		tenant string
	}
	var sources, dests []ep
	for _, t := range sortedKeys(r.Tenants) {
		tp := peersOf(r, t)
		for _, p := range []*connectivity.Peer{tp.job, tp.manager, tp.registry} {
			if p != nil {
				sources = append(sources, ep{*p, t})
				dests = append(dests, ep{*p, t})
			}
		}
	}
	sources = append(sources, ep{monitoringPod, ""}, ep{strangerPod, ""})
	dests = append(dests, ep{strangerPod, ""}, ep{internetIP, ""})
	ports := map[int]bool{80: true, 443: true, 53: true, 5000: true, 9252: true, 6443: true}
	seen := map[string]bool{}
	for _, np := range eng.Policies() {
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
					if err != nil || seen[peer.IPBlock.CIDR] {
						continue
					}
					seen[peer.IPBlock.CIDR] = true
					if peer.IPBlock.CIDR == "0.0.0.0/0" {
						continue // covered by the internet host
					}
					dests = append(dests, ep{connectivity.Peer{Name: peer.IPBlock.CIDR, IP: ip.String()}, ""})
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
					dests = append(dests, ep{connectivity.Peer{Name: name, Namespace: ns, NSLabels: map[string]string{"kubernetes.io/metadata.name": ns}, Labels: labels}, ""})
				}
			}
		}
	}
	portList := make([]int, 0, len(ports))
	for p := range ports {
		portList = append(portList, p)
	}
	sort.Ints(portList)
	var out []Path
	for _, s := range sources {
		for _, d := range dests {
			if s.peer.Name == d.peer.Name {
				continue
			}
			for _, port := range portList {
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

// CheckConnectivityRules checks the rules that hold for any install, without expectations per permutation:
// no pod of one tenant reaches a pod of another; the metrics port only from the monitoring namespace.
func CheckConnectivityRules(r *Rendered) ([]string, error) {
	paths, err := Reachability(r)
	if err != nil {
		return nil, err
	}
	var bad []string
	for _, p := range paths {
		if !p.Allowed {
			continue
		}
		switch {
		case p.FromTenant != "" && p.ToTenant != "" && p.FromTenant != p.ToTenant && r.Namespace[p.FromTenant] != r.Namespace[p.ToTenant]:
			bad = append(bad, p.Key()+" crosses from tenant "+p.FromTenant+" to another tenant ("+p.ToTenant+")")
		case p.Port == 9252 && p.From != monitoringPod.Name && p.ToTenant != "":
			bad = append(bad, p.Key()+" reaches the metrics port from outside the monitoring namespace")
		}
	}
	return bad, nil
}

// ReachChanges lists paths whose verdict differs between two installs, in words.
func ReachChanges(base, head *Rendered) ([]string, error) {
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
	var out []string
	for _, p := range hp {
		was, known := before[p.Key()]
		if known && was == p.Allowed || !known && !p.Allowed {
			continue
		}
		verb := "can now reach"
		if !p.Allowed {
			verb = "can no longer reach"
		}
		line := fmt.Sprintf("%s %s %s on %s/%s", p.From, verb, p.To, strconv.Itoa(p.Port), p.Proto)
		if p.Allowed && p.FromTenant != "" && p.ToTenant != "" && p.FromTenant != p.ToTenant {
			line += " (another tenant)"
		}
		out = append(out, line)
	}
	sort.Strings(out)
	return out, nil
}
