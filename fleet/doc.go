// Package fleet runs one ramp rollout across many replicas on etcd.
package fleet
