package kindworld

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Client returns a clientset for a kubeconfig file.
func Client(kubeconfig string) (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 50, 100 // tests watch many pods at once (20 concurrent jobs)
	return kubernetes.NewForConfig(cfg)
}

// WaitReady waits until every node is Ready and every kube-system pod is Ready, printing what it waits for.
func WaitReady(ctx context.Context, cs kubernetes.Interface, timeout time.Duration, log Progress) error {
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		waiting, err := notReady(ctx, cs)
		if err == nil && len(waiting) == 0 {
			return nil
		}
		msg := strings.Join(waiting, ", ")
		if err != nil {
			msg = err.Error()
		}
		if msg != last {
			log("waiting for: %s", msg)
			last = msg
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %s", timeout, msg)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(3 * time.Second):
		}
	}
}

func notReady(ctx context.Context, cs kubernetes.Interface) ([]string, error) {
	var out []string
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, n := range nodes.Items {
		if !condTrue(n.Status.Conditions, corev1.NodeReady) {
			out = append(out, "node "+n.Name)
		}
	}
	pods, err := cs.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, p := range pods.Items {
		ready := false
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		if !ready && p.Status.Phase != corev1.PodSucceeded {
			out = append(out, "pod "+p.Name)
		}
	}
	if len(nodes.Items) == 0 {
		out = append(out, "nodes to register")
	}
	return out, nil
}

func condTrue(conds []corev1.NodeCondition, t corev1.NodeConditionType) bool {
	for _, c := range conds {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func nodeHasImage(node, ref string) bool {
	out, err := exec.Command("docker", "exec", node, "ctr", "-n", "k8s.io", "images", "ls", "-q").Output()
	return err == nil && strings.Contains(string(out), ref)
}
