// Package wait is the project's one context-aware poll helper (in the manner of e2e-framework's klient/wait): a
// condition is checked at an interval until it holds, it fails, or the time is up, and the timeout error says what
// was awaited and what the last check saw.
package wait
