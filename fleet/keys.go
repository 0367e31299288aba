package fleet

import (
	"encoding/json"
	"fmt"
	"strings"
)

// DefaultPrefix is the etcd key prefix under which every service's keys
// live when Config.Prefix is empty.
const DefaultPrefix = "/ramp/"

// keys is the layout of one service's keys:
//
//	<prefix><service>/election/…    the leader election (concurrency.Election)
//	<prefix><service>/state         the rollout state (Store)
//	<prefix><service>/lock          the deploy lock (Lock)
//	<prefix><service>/route         the published route (Router)
//	<prefix><service>/members/<id>  each live replica: applied route, admin address (lease-bound)
//	<prefix><service>/ops/<id>      operations sent to the leader (lease-bound)
type keys struct{ base string }

func newKeys(prefix, service string) (keys, error) {
	if err := checkName("service", service); err != nil {
		return keys{}, err
	}
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return keys{base: prefix + service + "/"}, nil
}

func (k keys) election() string        { return k.base + "election" }
func (k keys) state() string           { return k.base + "state" }
func (k keys) lock() string            { return k.base + "lock" }
func (k keys) route() string           { return k.base + "route" }
func (k keys) members() string         { return k.base + "members/" }
func (k keys) member(id string) string { return k.members() + id }
func (k keys) ops() string             { return k.base + "ops/" }

// checkName rejects names that would break the key layout.
func checkName(field, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("%w: %s is empty", ErrInvalidConfig, field)
	case len(v) > 128:
		return fmt.Errorf("%w: %s %q is longer than 128 bytes", ErrInvalidConfig, field, v[:32]+"…")
	case strings.ContainsAny(v, "/\x00\n"):
		return fmt.Errorf("%w: %s %q contains '/', NUL or a newline", ErrInvalidConfig, field, v)
	}
	return nil
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
