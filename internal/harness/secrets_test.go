package harness

import "testing"

// TestFindSecret: each kind of secret material is found (in any case where the pattern is case-insensitive), and the
// placeholders and key names the charts render are not.
func TestFindSecret(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{`token = "glrt-abcdefghijklmnop"`, "glrt-abcdefghijklmnop"},
		{"key: AKIAABCDEFGHIJKLMNOP", "AKIAABCDEFGHIJKLMNOP"},
		{"-----BEGIN RSA PRIVATE KEY-----\nMII", "-----BEGIN RSA PRIVATE KEY-----"},
		{"Password: hunter2hunter2x", "Password: hunter2hunter2x"},
		{`SecretKey = "abcdEFGH12345678"`, `SecretKey = "abcdEFGH12345678`},
		{`ACCESS_KEY=ABCDEFGHIJKL0123`, `ACCESS_KEY=ABCDEFGHIJKL0123`},
		{`SecretKey = "@S3_SECRET_KEY@"`, ""},
		{`token = "@RUNNER_TOKEN:java@"`, ""},
		{"accessKey: short", ""},
		{"the secret key is mounted from a Secret", ""},
	} {
		if got := findSecret(tc.text); got != tc.want {
			t.Errorf("findSecret(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}
