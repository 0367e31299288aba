package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ramp-go/ramp"
)

var (
	// ErrDeposed is wrapped by every write refused because the writer no
	// longer leads: its election key is gone or belongs to a newer term.
	ErrDeposed = errors.New("fleet: not the leader any more")
	// ErrConflict is wrapped by Store.Save when the state changed since
	// this Store last read or wrote it (another writer got in between).
	ErrConflict = errors.New("fleet: state changed by another writer")
	// ErrInvalidConfig wraps every configuration problem.
	ErrInvalidConfig = errors.New("fleet: invalid config")
)

// Leadership is a fencing token: the leader's election key and that key's
// create revision. A *concurrency.Election satisfies it once its Campaign
// has returned. Writes fenced by it succeed only while that very key
// exists, that is while this term of leadership lasts.
type Leadership interface {
	Key() string
	Rev() int64
}

// Store is a ramp.Store on etcd: the state is one JSON value under one
// key. Save is a compare-and-swap on the key's modification revision
// (the one this Store last loaded or saved), fenced by the leader's
// election key when a Leadership is given, so a leader that was deposed
// (its session expired, another replica won) can never overwrite the
// state its successor drives: its Save fails with an error wrapping
// ErrDeposed and its Rollout stops.
//
// A Store is safe for concurrent use. Save before any Load expects the key
// to be absent.
type Store struct {
	cli  *clientv3.Client
	key  string
	lead Leadership // nil: not fenced

	mu  sync.Mutex
	rev int64 // mod revision of the value last read or written; 0: absent
}

var _ ramp.Store = (*Store)(nil)

// NewStore returns a store of the state at key. lead, when not nil, fences
// every Save (see Store).
func NewStore(cli *clientv3.Client, key string, lead Leadership) (*Store, error) {
	if cli == nil {
		return nil, fmt.Errorf("%w: store client is nil", ErrInvalidConfig)
	}
	if key == "" {
		return nil, fmt.Errorf("%w: store key is empty", ErrInvalidConfig)
	}
	return &Store{cli: cli, key: key, lead: lead}, nil
}

// Load reads the state; it wraps ramp.ErrNoState when there is none.
func (s *Store) Load(ctx context.Context) (ramp.State, error) {
	resp, err := s.cli.Get(ctx, s.key)
	if err != nil {
		return ramp.State{}, fmt.Errorf("fleet: load state %s: %w", s.key, err)
	}
	if len(resp.Kvs) == 0 {
		s.setRev(0)
		return ramp.State{}, fmt.Errorf("fleet: state %s: %w", s.key, ramp.ErrNoState)
	}
	kv := resp.Kvs[0]
	var st ramp.State
	if err := json.Unmarshal(kv.Value, &st); err != nil {
		return ramp.State{}, fmt.Errorf("fleet: state %s at revision %d: %w", s.key, kv.ModRevision, err)
	}
	if st.Version != ramp.StateVersion {
		return ramp.State{}, fmt.Errorf("fleet: state %s: version %d is not supported (want %d)", s.key, st.Version, ramp.StateVersion)
	}
	s.setRev(kv.ModRevision)
	return st, nil
}

// Save writes st if the key still holds what this Store last saw and, when
// fenced, this Store's leader still leads.
func (s *Store) Save(ctx context.Context, st ramp.State) error {
	st.Version = ramp.StateVersion
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("fleet: encode state: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock() // saves are serialized: each compares against the last
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(s.key), "=", s.rev)}
	var leaderKey string
	var leaderRev int64
	if s.lead != nil {
		leaderKey, leaderRev = s.lead.Key(), s.lead.Rev()
		if leaderKey == "" {
			return fmt.Errorf("fleet: save state %s: %w (never elected)", s.key, ErrDeposed)
		}
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(leaderKey), "=", leaderRev))
	}
	orElse := []clientv3.Op{clientv3.OpGet(s.key, clientv3.WithKeysOnly())}
	if s.lead != nil {
		orElse = append(orElse, clientv3.OpGet(leaderKey, clientv3.WithKeysOnly()))
	}
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(clientv3.OpPut(s.key, string(b))).Else(orElse...).Commit()
	if err != nil {
		return fmt.Errorf("fleet: save state %s: %w", s.key, err)
	}
	if resp.Succeeded {
		s.rev = resp.Header.Revision
		return nil
	}
	if s.lead != nil && createRev(resp.Responses[1]) != leaderRev {
		return fmt.Errorf("fleet: save state %s: %w (election key %s of revision %d is gone)", s.key, ErrDeposed, leaderKey, leaderRev)
	}
	return fmt.Errorf("fleet: save state %s: %w (revision %d, expected %d)", s.key, ErrConflict, modRev(resp.Responses[0]), s.rev)
}

func (s *Store) setRev(rev int64) {
	s.mu.Lock()
	s.rev = rev
	s.mu.Unlock()
}

func createRev(r *etcdserverpb.ResponseOp) int64 {
	if kvs := r.GetResponseRange().GetKvs(); len(kvs) > 0 {
		return kvs[0].CreateRevision
	}
	return 0
}

func modRev(r *etcdserverpb.ResponseOp) int64 {
	if kvs := r.GetResponseRange().GetKvs(); len(kvs) > 0 {
		return kvs[0].ModRevision
	}
	return 0
}
