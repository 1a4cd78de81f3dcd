// Package jobtrace reads a GitLab job trace as gitlab-runner writes it: the collapsible sections
// (`section_start:<unix>:<name>` … `section_end:<unix>:<name>`, GitLab's log-section format) give each stage of the
// job its start and end, and Phases groups them into what a person asks about: starting the pod, fetching the
// sources, restoring the cache, the script, uploading the cache.
package jobtrace
