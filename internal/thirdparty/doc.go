// Package thirdparty reads the gitlab-runner source tarball the offline world builds from (../shared/third_party by
// default): it checks the archive against SHA256SUMS, reads files from it (the feature-flag table), extracts it into
// the project cache and builds small programs against the runner's own packages (tools/runnerkeys: which
// config.toml keys the runner's types decode). It is a build input only; nothing of it is copied into the project.
package thirdparty
