// Package rollback decides when to give up on a new version and how.
//
// A Trigger watches something — live metrics, a health endpoint, a webhook
// — and demands a rollback with a reason. A Gate holds traffic back until
// the new version is ready.
package rollback
