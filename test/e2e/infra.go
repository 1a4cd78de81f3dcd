//go:build e2e

// Package e2e is the end-to-end test on kind. The job tier (TestJobTier) runs everything real except the runner
// process: job pods are built from each tenant's rendered config.toml by internal/jobpod, exactly as the runner's
// Kubernetes executor would, and run the script of ci/templates/kaniko.gitlab-ci.yml.
package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/kindworld"
	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
)

func ensureNamespace(ctx context.Context, cs kubernetes.Interface, name string, labels map[string]string) error {
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

func apply[T any](create func() (T, error)) error {
	_, err := create()
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

var smallResources = corev1.ResourceRequirements{
	Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
	Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")},
}

// deployment runs one container on the control-plane node (infrastructure stays off the tenants' nodes).
func deployment(ns, name string, labels map[string]string, c corev1.Container, volumes ...corev1.Volume) *appsv1.Deployment {
	one := int32(1)
	c.Resources = smallResources
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
				NodeSelector: map[string]string{"node-role.kubernetes.io/control-plane": ""},
				Tolerations:  []corev1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
				Containers:   []corev1.Container{c}, Volumes: volumes,
			}}},
	}
}

// Infra is what the tenants need around them: MinIO (S3), the destination registry, a monitoring namespace.
type Infra struct {
	MinIOAdminKey, MinIOAdminSecret string
}

// installInfra installs MinIO in namespace minio (admin Secret minio/minio-admin, NodePort 30900 for the host-side
// provisioning tool) and the destination registry in namespace registry (fixed ClusterIP for node pulls,
// NodePort 30500 for pushing base images from the host).
func installInfra(ctx context.Context, cs kubernetes.Interface, in Infra) error {
	for _, ns := range []string{"minio", "registry", "monitoring"} {
		if err := ensureNamespace(ctx, cs, ns, nil); err != nil {
			return err
		}
	}
	if err := apply(func() (*corev1.Secret, error) {
		return cs.CoreV1().Secrets("minio").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "minio-admin"},
			StringData: map[string]string{"accessKey": in.MinIOAdminKey, "secretKey": in.MinIOAdminSecret}}, metav1.CreateOptions{})
	}); err != nil {
		return err
	}
	minioLabels := map[string]string{"app": "minio"}
	minio := corev1.Container{Name: "minio", Image: kindworld.MinIOImage, ImagePullPolicy: corev1.PullNever,
		Args: []string{"server", "/data", "--address", ":9000", "--console-address", ":9001"},
		Env: []corev1.EnvVar{
			{Name: "MINIO_ROOT_USER", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "minio-admin"}, Key: "accessKey"}}},
			{Name: "MINIO_ROOT_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "minio-admin"}, Key: "secretKey"}}},
		},
		Ports:          []corev1.ContainerPort{{ContainerPort: 9000}},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/minio/health/ready", Port: intstr.FromInt32(9000)}}},
		VolumeMounts:   []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
	}
	// MinIO keeps its data on the control-plane node's disk, so the outage scenarios can stop and start it
	// without losing buckets, users or cached layers (as a real MinIO with persistent volumes would).
	dirType := corev1.HostPathDirectoryOrCreate
	minioData := corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/gkt-e2e/minio", Type: &dirType}}}
	if d, err := cs.AppsV1().Deployments("minio").Get(ctx, "minio", metav1.GetOptions{}); err == nil {
		if len(d.Spec.Template.Spec.Volumes) != 1 || d.Spec.Template.Spec.Volumes[0].HostPath == nil {
			// a cluster from before MinIO kept its data: move it to the persistent volume (provisioning runs after)
			d.Spec.Template.Spec.Volumes = []corev1.Volume{minioData}
			if _, err := cs.AppsV1().Deployments("minio").Update(ctx, d, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("moving MinIO to persistent data: %w", err)
			}
		}
	} else if err := apply(func() (*appsv1.Deployment, error) {
		return cs.AppsV1().Deployments("minio").Create(ctx, deployment("minio", "minio", minioLabels, minio, minioData), metav1.CreateOptions{})
	}); err != nil {
		return err
	}
	if _, err := cs.CoreV1().Services("minio").Get(ctx, "minio", metav1.GetOptions{}); err == nil {
		// exists (a NodePort Service is validated before the exists check, so Create would fail)
	} else if err := apply(func() (*corev1.Service, error) {
		return cs.CoreV1().Services("minio").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "minio"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: minioLabels,
				Ports: []corev1.ServicePort{{Name: "s3", Port: 9000, TargetPort: intstr.FromInt32(9000), NodePort: 30900}}}}, metav1.CreateOptions{})
	}); err != nil {
		return err
	}
	regLabels := map[string]string{"app": "registry"}
	reg := corev1.Container{Name: "registry", Image: kindworld.RegistryImage, ImagePullPolicy: corev1.PullNever,
		Env: []corev1.EnvVar{
			{Name: "REGISTRY_STORAGE", Value: "filesystem"}, {Name: "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", Value: "/var/lib/registry"},
			{Name: "REGISTRY_HTTP_ADDR", Value: ":5000"}, {Name: "REGISTRY_STORAGE_DELETE_ENABLED", Value: "true"}, {Name: "OTEL_TRACES_EXPORTER", Value: "none"},
		},
		Command:        []string{"/bin/registry", "serve", "/etc/distribution/config.yml"},
		Ports:          []corev1.ContainerPort{{ContainerPort: 5000}},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(5000)}}},
		VolumeMounts:   []corev1.VolumeMount{{Name: "data", MountPath: "/var/lib/registry"}, {Name: "config", MountPath: "/etc/distribution"}},
	}
	if err := apply(func() (*corev1.ConfigMap, error) {
		return cs.CoreV1().ConfigMaps("registry").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "registry-config"},
			Data: map[string]string{"config.yml": "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\nhttp:\n  addr: :5000\n"}}, metav1.CreateOptions{})
	}); err != nil {
		return err
	}
	if err := apply(func() (*appsv1.Deployment, error) {
		return cs.AppsV1().Deployments("registry").Create(ctx, deployment("registry", "registry", regLabels, reg,
			corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			corev1.Volume{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "registry-config"}}}}), metav1.CreateOptions{})
	}); err != nil {
		return err
	}
	if _, err := cs.CoreV1().Services("registry").Get(ctx, "registry", metav1.GetOptions{}); err == nil {
		// exists
	} else if err := apply(func() (*corev1.Service, error) {
		return cs.CoreV1().Services("registry").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "registry"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: kindworld.DestRegistryClusterIP, Selector: regLabels,
				Ports: []corev1.ServicePort{{Name: "registry", Port: 5000, TargetPort: intstr.FromInt32(5000), NodePort: 30500}}}}, metav1.CreateOptions{})
	}); err != nil {
		return err
	}
	for _, d := range [][2]string{{"minio", "minio"}, {"registry", "registry"}} {
		if err := waitDeployment(ctx, cs, d[0], d[1], 3*time.Minute); err != nil {
			return err
		}
	}
	return nil
}

// liveCluster is what a tenant chart install's lookups see in the cluster: the API server's EndpointSlice and the
// namespace's quotas.
func liveCluster(t *testing.T, cs kubernetes.Interface, ns string) []*unstructured.Unstructured {
	t.Helper()
	var cluster []*unstructured.Unstructured
	eps, err := cs.DiscoveryV1().EndpointSlices("default").Get(context.Background(), "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, e := range eps.Endpoints {
		addrs = append(addrs, e.Addresses...)
	}
	cluster = append(cluster, render.APIServerEndpoints(addrs...))
	quotas, err := cs.CoreV1().ResourceQuotas(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range quotas.Items {
		hard := map[string]string{}
		for k, v := range q.Spec.Hard {
			hard[string(k)] = v.String()
		}
		cluster = append(cluster, render.ResourceQuota(ns, q.Name, hard))
	}
	return cluster
}
