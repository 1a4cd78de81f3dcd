package s3provision

import (
	"strings"
	"testing"
)

func TestPolicyIsScopedToTheBucket(t *testing.T) {
	p := string(Policy("tenant-a-cache"))
	for _, want := range []string{`"arn:aws:s3:::tenant-a-cache"`, `"arn:aws:s3:::tenant-a-cache/*"`} {
		if !strings.Contains(p, want) {
			t.Errorf("policy lacks %s: %s", want, p)
		}
	}
	if strings.Contains(p, `"arn:aws:s3:::*"`) || strings.Contains(p, `"s3:*"`) {
		t.Errorf("policy must not grant every bucket or every action: %s", p)
	}
}

func TestSamePolicyIgnoresEncoding(t *testing.T) {
	want := Policy("b")
	reencoded := []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:PutObject","s3:GetObject","s3:DeleteObject","s3:AbortMultipartUpload","s3:ListMultipartUploadParts"],"Resource":["arn:aws:s3:::b/*"]},{"Effect":"Allow","Action":["s3:ListBucket","s3:GetBucketLocation","s3:ListBucketMultipartUploads"],"Resource":"arn:aws:s3:::b"}]}`)
	if !samePolicy(reencoded, want) {
		t.Error("a re-encoded identical policy must compare equal (else provisioning is not idempotent)")
	}
	if samePolicy(Policy("other"), want) {
		t.Error("a policy on another bucket must differ")
	}
}
