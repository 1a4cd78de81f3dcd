//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

type snapshot struct {
	uids        map[string]string    // kind/name → UID
	pods        map[string]string    // pod name → UID
	podTemplate map[string][2]string // pod name → [owner ReplicaSet's Deployment, pod-template-hash]
	templates   map[string]string    // Deployment name → pod-template-hash of its running pods
	config      string
}

// kept fails with every object of s that now has another UID, and every running pod of s that restarted.
func (s snapshot) kept(now snapshot, by string) error {
	var errs []string
	for k, uid := range s.uids {
		if now.uids[k] != uid {
			errs = append(errs, fmt.Sprintf("%s was recreated by the %s", k, by))
		}
	}
	for p, uid := range s.pods {
		if now.pods[p] == uid {
			continue
		}
		// a pod may be replaced only by a rollout: its owner's pod template (hash) changed
		if owner, hash := s.podTemplate[p][0], s.podTemplate[p][1]; owner != "" && hash != "" && now.templates[owner] != "" && now.templates[owner] != hash {
			continue
		}
		errs = append(errs, fmt.Sprintf("pod %s restarted in the %s although its pod template did not change", p, by))
	}
	sort.Strings(errs)
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

func snap(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string) snapshot {
	s := snapshot{uids: map[string]string{}, pods: map[string]string{}, podTemplate: map[string][2]string{}, templates: map[string]string{}}
	must := func(err error) {
		if err != nil {
			t.Fatalf("snapshot of %s: %v", ns, err)
		}
	}
	cms, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/part-of=gitlab-kaniko-tenant"})
	must(err)
	for _, c := range cms.Items {
		s.uids["ConfigMap/"+c.Name] = string(c.UID)
		if strings.HasSuffix(c.Name, "-runner") {
			s.config = c.Data["config.template.toml"]
		}
	}

	ds, err := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	must(err)
	for _, d := range ds.Items {
		s.uids["Deployment/"+d.Name] = string(d.UID)
	}

	nps, err := cs.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
	must(err)
	for _, n := range nps.Items {
		s.uids["NetworkPolicy/"+n.Name] = string(n.UID)
	}

	sas, err := cs.CoreV1().ServiceAccounts(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/part-of=gitlab-kaniko-tenant"})
	must(err)
	for _, a := range sas.Items {
		s.uids["ServiceAccount/"+a.Name] = string(a.UID)
	}

	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			s.pods[p.Name] = string(p.UID)
			hash := p.Labels["pod-template-hash"]
			for _, ref := range p.OwnerReferences {
				if ref.Kind == "ReplicaSet" && hash != "" {
					owner := strings.TrimSuffix(ref.Name, "-"+hash)
					s.podTemplate[p.Name] = [2]string{owner, hash}
					s.templates[owner] = hash
				}
			}
		}
	}
	return s
}
