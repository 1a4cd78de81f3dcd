// Package s3provision creates, idempotently, each tenant's bucket, user, bucket-scoped policy and prefix layout on
// MinIO (or any S3 with MinIO's admin API), and stores the tenant's keys in a Secret in the tenant namespace.
// Keys are never printed or logged: reports carry names only.
package s3provision

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/minio/madmin-go/v3"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/tenants"
)

// Endpoint is where S3 and its admin API answer, with the admin credentials.
type Endpoint struct {
	Address   string // host:port
	TLS       bool
	Region    string
	AccessKey string
	SecretKey string
}

// Options of one provisioning run.
type Options struct {
	// Rotate gives every selected tenant a new secret key; the old one stops working at once.
	Rotate bool
	// SecretName is the name of the Secret in each tenant namespace; "%s" is replaced by the tenant name.
	SecretName string
	// Layout lists the prefixes created in each bucket (e.g. cache/, layers/).
	Layout []string
}

// DefaultSecretName matches the gitlab-kaniko-tenant chart's default s3.credentialsSecret.
const DefaultSecretName = "%s-s3"

// Report says what happened for one tenant (no key material).
type Report struct {
	Tenant, Bucket, User, Policy, Secret string
	Created                              []string // what was created this run
	Rotated                              bool
	// Reapplied: S3 held another secret key for the user than this namespace's Secret (an earlier run wrote one
	// into a Secret elsewhere, e.g. before the tenant moved namespaces), so the Secret's key was set again.
	Reapplied bool
}

func (r Report) String() string {
	what := "unchanged"
	if len(r.Created) > 0 {
		what = "created " + strings.Join(r.Created, ", ")
	}
	if r.Rotated {
		what += "; secret key rotated"
	}
	if r.Reapplied {
		what += "; the Secret's key re-applied (S3 held another: a Secret of this tenant in another namespace is now stale)"
	}
	return fmt.Sprintf("tenant %s: bucket %s, user %s, policy %s, secret %s: %s", r.Tenant, r.Bucket, r.User, r.Policy, r.Secret, what)
}

// Provisioner talks to S3 and Kubernetes.
type Provisioner struct {
	s3    *minio.Client
	admin *madmin.AdminClient
	kube  kubernetes.Interface
	ep    Endpoint
}

// New connects to the endpoint with the admin credentials.
func New(ep Endpoint, kube kubernetes.Interface) (*Provisioner, error) {
	if ep.AccessKey == "" || ep.SecretKey == "" {
		return nil, fmt.Errorf("S3 admin credentials are empty")
	}
	s3c, err := minio.New(ep.Address, &minio.Options{Creds: credentials.NewStaticV4(ep.AccessKey, ep.SecretKey, ""), Secure: ep.TLS, Region: ep.Region})
	if err != nil {
		return nil, fmt.Errorf("S3 client for %s: %w", ep.Address, err)
	}
	adm, err := madmin.New(ep.Address, ep.AccessKey, ep.SecretKey, ep.TLS)
	if err != nil {
		return nil, fmt.Errorf("S3 admin client for %s: %w", ep.Address, err)
	}
	return &Provisioner{s3: s3c, admin: adm, kube: kube, ep: ep}, nil
}

// UserName is the S3 user (access key) of a tenant.
func UserName(tenant string) string { return "gkt-" + tenant }

// PolicyName is the canned policy of a tenant.
func PolicyName(tenant string) string { return "gkt-" + tenant }

// Policy returns the bucket-scoped policy document: the bucket and its objects, nothing else.
func Policy(bucket string) []byte {
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{
			{"Effect": "Allow", "Action": []string{"s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"},
				"Resource": []string{"arn:aws:s3:::" + bucket}},
			{"Effect": "Allow", "Action": []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"},
				"Resource": []string{"arn:aws:s3:::" + bucket + "/*"}},
		},
	}
	b, _ := json.Marshal(doc)
	return b
}

// Provision makes one tenant's S3 side and Secret exist, in steps: bucket and its layout, policy, the Secret's
// current key, the user with that key and the policy, then the Secret. Existing keys in the Secret are kept (and
// re-applied to the user if S3 lost it) unless opts.Rotate.
func (p *Provisioner) Provision(ctx context.Context, t tenants.Tenant, opts Options) (Report, error) {
	secretName := fmt.Sprintf(orDefault(opts.SecretName, DefaultSecretName), t.Name)
	r := Report{Tenant: t.Name, Bucket: t.Bucket, User: UserName(t.Name), Policy: PolicyName(t.Name), Secret: t.Namespace + "/" + secretName}
	if err := p.ensureBucket(ctx, t, opts.Layout, &r); err != nil {
		return r, err
	}
	policy := Policy(t.Bucket)
	if cur, err := p.admin.InfoCannedPolicyV2(ctx, r.Policy); err != nil || !samePolicy(cur.Policy, policy) {
		if err := p.admin.AddCannedPolicy(ctx, r.Policy, policy); err != nil {
			return r, fmt.Errorf("tenant %s: writing policy %s: %w", t.Name, r.Policy, err)
		}
		r.Created = append(r.Created, "policy")
	}
	sec, err := p.kube.CoreV1().Secrets(t.Namespace).Get(ctx, secretName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		sec = nil
	case err != nil:
		return r, fmt.Errorf("tenant %s: reading secret %s: %w", t.Name, r.Secret, err)
	}
	secretKey := ""
	if sec != nil && string(sec.Data["accessKey"]) == r.User && !opts.Rotate {
		secretKey = string(sec.Data["secretKey"])
	}
	newKey := secretKey == ""
	if newKey {
		if secretKey, err = randomKey(40); err != nil {
			return r, err
		}
	}
	if err := p.ensureUser(ctx, t, secretKey, newKey, &r); err != nil {
		return r, err
	}
	return r, p.writeSecret(ctx, t, secretName, sec, secretKey, newKey, &r)
}

// ensureBucket creates the tenant's bucket and the layout's prefixes that are missing.
func (p *Provisioner) ensureBucket(ctx context.Context, t tenants.Tenant, layout []string, r *Report) error {
	exists, err := p.s3.BucketExists(ctx, t.Bucket)
	if err != nil {
		return fmt.Errorf("tenant %s: checking bucket %s: %w", t.Name, t.Bucket, err)
	}
	if !exists {
		if err := p.s3.MakeBucket(ctx, t.Bucket, minio.MakeBucketOptions{Region: p.ep.Region}); err != nil {
			return fmt.Errorf("tenant %s: creating bucket %s: %w", t.Name, t.Bucket, err)
		}
		r.Created = append(r.Created, "bucket")
	}
	for _, prefix := range layout {
		if _, err := p.s3.StatObject(ctx, t.Bucket, prefix, minio.StatObjectOptions{}); err == nil {
			continue
		}
		if _, err := p.s3.PutObject(ctx, t.Bucket, prefix, bytes.NewReader(nil), 0, minio.PutObjectOptions{}); err != nil {
			return fmt.Errorf("tenant %s: creating prefix %s: %w", t.Name, prefix, err)
		}
		r.Created = append(r.Created, "prefix "+prefix)
	}
	return nil
}

// ensureUser makes the tenant's user exist with secretKey (a new key replaces the old one at once; a kept key that
// S3 no longer accepts is applied again) and with the tenant's policy attached.
func (p *Provisioner) ensureUser(ctx context.Context, t tenants.Tenant, secretKey string, newKey bool, r *Report) error {
	info, err := p.admin.GetUserInfo(ctx, r.User)
	userExists := err == nil
	if !userExists || newKey {
		// SetUser creates the user or replaces its secret key (rotation): the old key stops working at once.
		if err := p.admin.SetUser(ctx, r.User, secretKey, madmin.AccountEnabled); err != nil {
			return fmt.Errorf("tenant %s: writing user %s: %w", t.Name, r.User, err)
		}
		if !userExists {
			r.Created = append(r.Created, "user")
		}
		r.Rotated = userExists && newKey
	}
	if userExists && !newKey {
		works, err := p.keyWorks(ctx, r.User, secretKey, t.Bucket)
		if err != nil {
			return fmt.Errorf("tenant %s: checking the key of secret %s: %w", t.Name, r.Secret, err)
		}
		if !works {
			if err := p.admin.SetUser(ctx, r.User, secretKey, madmin.AccountEnabled); err != nil {
				return fmt.Errorf("tenant %s: re-applying the key of secret %s to user %s: %w", t.Name, r.Secret, r.User, err)
			}
			r.Reapplied = true
		}
	}
	if !slices.Contains(strings.Split(info.PolicyName, ","), r.Policy) {
		if _, err := p.admin.AttachPolicy(ctx, madmin.PolicyAssociationReq{Policies: []string{r.Policy}, User: r.User}); err != nil &&
			!strings.Contains(strings.ToLower(err.Error()), "already") {
			return fmt.Errorf("tenant %s: attaching policy %s to %s: %w", t.Name, r.Policy, r.User, err)
		}
		r.Created = append(r.Created, "policy attachment")
	}
	return nil
}

// writeSecret creates the tenant's S3 Secret, or updates it when the key is new or its data differs.
func (p *Provisioner) writeSecret(ctx context.Context, t tenants.Tenant, name string, sec *corev1.Secret, secretKey string, newKey bool, r *Report) error {
	want := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: t.Namespace, Labels: map[string]string{
			"gitlab-kaniko-tenant.io/tenant": t.Name, "app.kubernetes.io/managed-by": "gkt", "app.kubernetes.io/part-of": "gitlab-kaniko-tenant",
		}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			"accessKey": []byte(r.User), "secretKey": []byte(secretKey),
			"bucket": []byte(t.Bucket), "endpoint": []byte(p.ep.Address),
		},
	}
	secrets := p.kube.CoreV1().Secrets(t.Namespace)
	switch {
	case sec == nil:
		if _, err := secrets.Create(ctx, want, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("tenant %s: creating secret %s: %w", t.Name, r.Secret, err)
		}
		r.Created = append(r.Created, "secret")
	case newKey || !sameData(sec.Data, want.Data):
		sec.Data = want.Data
		sec.Labels = want.Labels
		if _, err := secrets.Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("tenant %s: updating secret %s: %w", t.Name, r.Secret, err)
		}
	}
	return nil
}

// samePolicy compares policy documents semantically: MinIO stores them re-encoded (order, single values as
// strings, added fields), so byte comparison would rewrite an unchanged policy on every run.
func samePolicy(have json.RawMessage, want []byte) bool {
	canon := func(raw []byte) (string, bool) {
		var doc struct {
			Statement []struct {
				Effect   string
				Action   stringOrList
				Resource stringOrList
			}
		}
		if json.Unmarshal(raw, &doc) != nil {
			return "", false
		}
		var parts []string
		for _, st := range doc.Statement {
			a, r := append([]string{}, st.Action...), append([]string{}, st.Resource...)
			slices.Sort(a)
			slices.Sort(r)
			parts = append(parts, st.Effect+"|"+strings.Join(a, ",")+"|"+strings.Join(r, ","))
		}
		slices.Sort(parts)
		return strings.Join(parts, ";"), true
	}
	a, ok1 := canon(have)
	b, ok2 := canon(want)
	return ok1 && ok2 && a == b
}

type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*s = []string{one}
		return nil
	}
	var many []string
	err := json.Unmarshal(b, &many)
	*s = many
	return err
}

func sameData(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if !bytes.Equal(a[k], v) {
			return false
		}
	}
	return true
}

const keyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randomKey(n int) (string, error) {
	var b strings.Builder
	for i := 0; i < n; i++ {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(len(keyAlphabet))))
		if err != nil {
			return "", fmt.Errorf("generating key: %w", err)
		}
		b.WriteByte(keyAlphabet[j.Int64()])
	}
	return b.String(), nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// keyWorks reports whether S3 accepts the user's key: a signed request that S3 refuses as an unknown key or a bad
// signature means it holds another key for the user. Any other answer (AccessDenied included) means the key
// authenticates.
func (p *Provisioner) keyWorks(ctx context.Context, user, secretKey, bucket string) (bool, error) {
	c, err := minio.New(p.ep.Address, &minio.Options{Creds: credentials.NewStaticV4(user, secretKey, ""), Secure: p.ep.TLS, Region: p.ep.Region})
	if err != nil {
		return false, err
	}
	// A listing, not a HEAD: S3 answers a HEAD without a body, so its error would not say why. The first answer
	// decides; the rest of the listing is cancelled.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{MaxKeys: 1}) {
		if o.Err == nil {
			return true, nil
		}
		switch minio.ToErrorResponse(o.Err).Code {
		case "InvalidAccessKeyId", "SignatureDoesNotMatch":
			return false, nil
		case "AccessDenied":
			return true, nil
		}
		return false, o.Err
	}
	return true, nil
}
