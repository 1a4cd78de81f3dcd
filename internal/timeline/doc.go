// Package timeline draws the jobs of a run as an SVG for people: one lane per tenant, one row per job, the time it
// waited in GitLab (queued) and the time it ran, coloured by how it ended. make demo writes it under _out/.
package timeline
