package harness

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/connectivity"
)

// Addresses of the permutation base values (test/matrix/permutations.yaml) and of pods outside the tenants.
var (
	gitlabIP      = connectivity.Peer{Name: "GitLab", IP: "203.0.113.10"}
	registryIP    = connectivity.Peer{Name: "destination registry", IP: "203.0.113.20"}
	mavenIP       = connectivity.Peer{Name: "maven proxy", IP: "203.0.113.30"}
	internetIP    = connectivity.Peer{Name: "internet host", IP: "198.51.100.7"}
	apiServerIP   = connectivity.Peer{Name: "API server", IP: "192.0.2.1"} // the address test/matrix/permutations.yaml gives as kubernetesApi.egress.to
	monitoringPod = connectivity.Peer{Name: "Prometheus", Namespace: "monitoring", NSLabels: map[string]string{"kubernetes.io/metadata.name": "monitoring"}, Labels: map[string]string{"app.kubernetes.io/name": "prometheus"}}
	strangerPod   = connectivity.Peer{Name: "pod in default", Namespace: "default", NSLabels: map[string]string{"kubernetes.io/metadata.name": "default"}, Labels: map[string]string{"app": "stranger"}}
	dnsPod        = connectivity.Peer{Name: "cluster DNS", Namespace: "kube-system", NSLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}, Labels: map[string]string{"k8s-app": "kube-dns"}}
	minioPod      = connectivity.Peer{Name: "MinIO", Namespace: "minio", NSLabels: map[string]string{"kubernetes.io/metadata.name": "minio"}, Labels: map[string]string{"app": "minio"}}
)

// Probe is one row of the truth table.
type Probe struct {
	Name  string
	From  connectivity.Peer
	To    connectivity.Peer
	Port  int
	Proto corev1.Protocol
	Want  bool
	// Exposure marks rows that are expected to be reachable only because of a weaker mode: reported, not failed.
	Exposure bool
	// Weakness names the case of the catalogue (Weaknesses) that an exposure row demonstrates.
	Weakness string
}

// ConnectivityReport is the truth table of one install.
type ConnectivityReport struct {
	Probes    int
	Failures  []string // probes whose verdict differs from the expectation
	Exposures []string // what a weaker mode makes reachable
}

type tenantPeers struct {
	manager, job, registry *connectivity.Peer
	namespace              string
	nsLabels               map[string]string
}

func peersOf(r *Rendered, tenant string) tenantPeers {
	ns := r.Namespace[tenant]
	nsl := map[string]string{"kubernetes.io/metadata.name": ns}
	for _, o := range r.Bootstrap.Objects() {
		if o.GetKind() == "Namespace" && o.GetName() == ns {
			for k, v := range o.GetLabels() {
				nsl[k] = v
			}
		}
	}
	tp := tenantPeers{namespace: ns, nsLabels: nsl}
	for _, o := range r.Tenants[tenant].Objects() {
		t, ok := podTemplate(o)
		if !ok {
			continue
		}
		p := &connectivity.Peer{Namespace: ns, NSLabels: nsl, Labels: t.Labels}
		switch t.Labels["gitlab-kaniko-tenant.io/component"] {
		case "manager":
			p.Name = tenant + " manager"
			tp.manager = p
		case "layer-cache":
			p.Name = tenant + " layer-cache registry"
			tp.registry = p
		}
	}
	tp.job = &connectivity.Peer{Name: tenant + " job pod", Namespace: ns, NSLabels: nsl, Labels: r.JobPods[tenant].Labels}
	return tp
}

// TruthTable builds the probes of an install: cross-tenant denials, each component's allowed destinations, metrics
// only from monitoring, and (shared mode) what a pod impersonating another tenant's labels reaches.
func TruthTable(r *Rendered, values map[string]string) []Probe {
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	var probes []Probe
	tenants := sortedKeys(r.Tenants)
	peers := map[string]tenantPeers{}
	for _, t := range tenants {
		peers[t] = peersOf(r, t)
	}
	runnerCache := values["runnerCache"] != "off"
	for _, a := range tenants {
		pa := peers[a]
		job := *pa.job
		probes = append(probes,
			Probe{Name: a + " job → GitLab:443", From: job, To: gitlabIP, Port: 443, Proto: tcp, Want: true},
			Probe{Name: a + " job → destination registry:443", From: job, To: registryIP, Port: 443, Proto: tcp, Want: true},
			Probe{Name: a + " job → maven proxy:443", From: job, To: mavenIP, Port: 443, Proto: tcp, Want: true},
			Probe{Name: a + " job → cluster DNS:53/udp", From: job, To: dnsPod, Port: 53, Proto: udp, Want: true},
			Probe{Name: a + " job → MinIO:9000 (runner cache)", From: job, To: minioPod, Port: 9000, Proto: tcp, Want: runnerCache},
			Probe{Name: a + " job → internet:443", From: job, To: internetIP, Port: 443, Proto: tcp, Want: false},
			Probe{Name: a + " job → API server:6443", From: job, To: apiServerIP, Port: 6443, Proto: tcp, Want: false},
			Probe{Name: a + " job → pod in another namespace:80", From: job, To: strangerPod, Port: 80, Proto: tcp, Want: false},
			Probe{Name: a + " job → DNS on a non-DNS port", From: job, To: dnsPod, Port: 8080, Proto: tcp, Want: false},
		)
		if pa.manager != nil {
			m := *pa.manager
			probes = append(probes,
				Probe{Name: "monitoring → " + a + " manager:9252", From: monitoringPod, To: m, Port: 9252, Proto: tcp, Want: true},
				Probe{Name: "pod in default → " + a + " manager:9252", From: strangerPod, To: m, Port: 9252, Proto: tcp, Want: false},
				Probe{Name: a + " job → " + a + " manager:9252", From: job, To: m, Port: 9252, Proto: tcp, Want: false},
				Probe{Name: a + " manager → GitLab:443", From: m, To: gitlabIP, Port: 443, Proto: tcp, Want: true},
				Probe{Name: a + " manager → API server:6443", From: m, To: apiServerIP, Port: 6443, Proto: tcp, Want: true},
				Probe{Name: a + " manager → internet:80", From: m, To: internetIP, Port: 80, Proto: tcp, Want: false},
			)
		}
		if pa.registry != nil {
			reg := *pa.registry
			probes = append(probes,
				Probe{Name: a + " job → own layer-cache registry:5000", From: job, To: reg, Port: 5000, Proto: tcp, Want: true},
				Probe{Name: a + " layer-cache registry → MinIO:9000", From: reg, To: minioPod, Port: 9000, Proto: tcp, Want: true},
				Probe{Name: "pod in default → " + a + " layer-cache registry:5000", From: strangerPod, To: reg, Port: 5000, Proto: tcp, Want: false},
				Probe{Name: a + " layer-cache registry → internet:443", From: reg, To: internetIP, Port: 443, Proto: tcp, Want: false},
			)
			if pa.manager != nil {
				probes = append(probes, Probe{Name: a + " manager → own layer-cache registry:5000", From: *pa.manager, To: reg, Port: 5000, Proto: tcp, Want: false})
			}
		}
		for _, b := range tenants {
			if a == b {
				continue
			}
			pb := peers[b]
			probes = append(probes, Probe{Name: a + " job → " + b + " job:8080", From: job, To: *pb.job, Port: 8080, Proto: tcp, Want: false})
			if pb.registry != nil {
				probes = append(probes, Probe{Name: a + " job → " + b + " layer-cache registry:5000", From: job, To: *pb.registry, Port: 5000, Proto: tcp, Want: false})
				// A pod that b's runner can create (b's namespace, any labels) dressed as a's job pod.
				fake := connectivity.Peer{Name: b + "-created pod labelled as " + a + " job", Namespace: pb.namespace, NSLabels: pb.nsLabels, Labels: pa.job.Labels}
				shared := pa.namespace == pb.namespace
				if pa.registry != nil {
					probes = append(probes, Probe{Name: fake.Name + " → " + a + " layer-cache registry:5000", From: fake, To: *pa.registry, Port: 5000, Proto: tcp, Want: shared, Exposure: shared, Weakness: "shared/layer-cache-through-borrowed-labels"})
				}
			}
			if pb.manager != nil {
				probes = append(probes, Probe{Name: a + " job → " + b + " manager:9252", From: job, To: *pb.manager, Port: 9252, Proto: tcp, Want: false})
			}
		}
	}
	return probes
}

// CheckConnectivity evaluates the truth table with the policy engine.
func CheckConnectivity(r *Rendered, values map[string]string) (ConnectivityReport, error) {
	eng, err := policyEngine(r)
	if err != nil {
		return ConnectivityReport{}, err
	}
	var rep ConnectivityReport
	for _, p := range TruthTable(r, values) {
		rep.Probes++
		got := eng.Allowed(p.From, p.To, p.Port, p.Proto)
		if got != p.Want {
			rep.Failures = append(rep.Failures, fmt.Sprintf("%s: allowed=%t, want %t", p.Name, got, p.Want))
			continue
		}
		if p.Exposure && got {
			rep.Exposures = append(rep.Exposures, "["+p.Weakness+"] "+p.Name+" is reachable")
		}
	}
	return rep, nil
}

// AllObjects is every non-hook object of the install: tenant-bootstrap's, then each tenant's in name order.
func (r *Rendered) AllObjects() []*unstructured.Unstructured {
	objs := append([]*unstructured.Unstructured{}, r.Bootstrap.Objects()...)
	for _, t := range sortedKeys(r.Tenants) {
		objs = append(objs, r.Tenants[t].Objects()...)
	}
	return objs
}

// policyEngine compiles every NetworkPolicy of the install.
func policyEngine(r *Rendered) (*connectivity.Engine, error) { return connectivity.New(r.AllObjects()) }
