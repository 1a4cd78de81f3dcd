package test

import (
	"testing"

	"github.com/gitlab-kaniko-tenant/gitlab-kaniko-tenant/internal/render"
)

// loadChart loads a chart for a test, failing it when the chart does not load.
func loadChart(t *testing.T, dir string) *render.Chart {
	t.Helper()
	c, err := render.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
