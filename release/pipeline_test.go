package release_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/clock"
	"github.com/ramp-go/ramp/release"
	"github.com/ramp-go/ramp/window"
)

var (
	t0      = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	digestA = "sha256:" + strings.Repeat("a", 64)
	digestB = "sha256:" + strings.Repeat("b", 64)
)

// env is a fake environment: its rollout takes took on the fake clock and
// succeeds unless fail names the label.
type env struct {
	mu   sync.Mutex
	fail map[string]string // label → reason
	ran  []release.Identity
	clk  *clock.Fake
	took time.Duration
}

func (e *env) run(_ context.Context, id release.Identity) (release.Outcome, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ran = append(e.ran, id)
	e.clk.Advance(e.took)
	if reason, ok := e.fail[id.Label]; ok {
		return release.Outcome{Reason: reason, FaultAt: e.clk.Now().Add(-time.Minute)}, nil
	}
	return release.Outcome{Succeeded: true}, nil
}

func (e *env) runs() []release.Identity {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]release.Identity(nil), e.ran...)
}

type world struct {
	clk                *clock.Fake
	dev, staging, prod *env
	p                  *release.Pipeline
}

func newWorld(t *testing.T, store release.Store, approve func(context.Context, release.Identity, string) (release.Approval, error)) *world {
	t.Helper()
	w := &world{clk: clock.NewFake(t0)}
	mk := func(took time.Duration) *env { return &env{clk: w.clk, took: took, fail: map[string]string{}} }
	w.dev, w.staging, w.prod = mk(10*time.Minute), mk(30*time.Minute), mk(time.Hour)
	var err error
	w.p, err = release.New(release.Config{
		Environments: []release.Environment{
			{Name: "dev", Run: w.dev.run},
			{Name: "staging", Run: w.staging.run},
			{Name: "prod", Run: w.prod.run, Approve: approve},
		},
		Store: store,
		Clock: w.clk,
	})
	require.NoError(t, err)
	return w
}

func approveBy(who string) func(context.Context, release.Identity, string) (release.Approval, error) {
	return func(context.Context, release.Identity, string) (release.Approval, error) {
		return release.Approval{By: who, Note: "ticket CHG-1"}, nil
	}
}

func TestDeliverThroughEveryEnvironment(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, nil, approveBy("alice"))
	id := release.Identity{Label: "v1.0.0", Digest: digestA, CommitTime: t0.Add(-time.Hour)}
	rec, err := w.p.Deliver(ctx, id)
	require.NoError(t, err)
	require.Len(t, rec.Path, 3)
	want := []struct {
		env        string
		start, end time.Duration
	}{{"dev", 0, 10 * time.Minute}, {"staging", 10 * time.Minute, 40 * time.Minute}, {"prod", 40 * time.Minute, 100 * time.Minute}}
	for i, s := range rec.Path {
		assert.Equal(t, want[i].env, s.Env)
		assert.Equal(t, release.Succeeded, s.Status)
		assert.Equal(t, t0.Add(want[i].start), s.Start, s.Env)
		assert.Equal(t, t0.Add(want[i].end), s.End, s.Env)
	}
	assert.Equal(t, "alice", rec.Path[2].ApprovedBy)
	assert.Equal(t, "ticket CHG-1", rec.Path[2].ApprovalNote)
	assert.Empty(t, rec.Path[1].ApprovedBy)
	assert.Equal(t, []release.Identity{id}, w.prod.runs())

	_, err = w.p.Promote(ctx, "prod", id)
	require.ErrorIs(t, err, release.ErrDone)
	rec, err = w.p.Deliver(ctx, id)
	require.NoError(t, err, "delivering a delivered release does nothing")
	assert.Len(t, rec.Path, 3)
}

func TestFailedInStagingCannotEnterProd(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, nil, approveBy("alice"))
	w.staging.fail["v1.1.0"] = "error rate 4.2% > 1%"
	id := release.Identity{Label: "v1.1.0", Digest: digestA}

	rec, err := w.p.Deliver(ctx, id)
	require.NoError(t, err, "a failed rollout is recorded, not an error")
	require.Len(t, rec.Path, 2)
	assert.Equal(t, release.Failed, rec.Path[1].Status)
	assert.Equal(t, "error rate 4.2% > 1%", rec.Path[1].Reason)
	assert.Empty(t, w.prod.runs())

	_, err = w.p.Promote(ctx, "prod", id)
	require.ErrorIs(t, err, release.ErrStopped)
	assert.Contains(t, err.Error(), "failed in staging")
	assert.Contains(t, err.Error(), "error rate 4.2% > 1%")
	_, err = w.p.Promote(ctx, "staging", id)
	require.ErrorIs(t, err, release.ErrStopped, "no second try in the environment it failed in")
	assert.Empty(t, w.prod.runs())
}

func TestNeverSkip(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, nil, approveBy("alice"))
	id := release.Identity{Label: "v1.2.0"}
	_, err := w.p.Promote(ctx, "staging", id)
	require.ErrorIs(t, err, release.ErrOrder)
	assert.Contains(t, err.Error(), "has not entered dev")
	_, err = w.p.Promote(ctx, "dev", id)
	require.NoError(t, err)
	_, err = w.p.Promote(ctx, "prod", id)
	require.ErrorIs(t, err, release.ErrOrder)
	assert.Contains(t, err.Error(), "before it succeeded in staging: it has not entered it")
	_, err = w.p.Promote(ctx, "qa", id)
	require.ErrorIs(t, err, release.ErrUnknownEnv)
	assert.Contains(t, err.Error(), "have dev, staging, prod")
	assert.Empty(t, w.staging.runs())
	assert.Empty(t, w.prod.runs())
}

func TestIdentityIsFixedInTheFirstEnvironment(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, nil, approveBy("alice"))
	id := release.Identity{Label: "v2.0.0", Digest: digestA, Commit: "abcdef1"}
	for _, e := range []string{"dev", "staging"} {
		_, err := w.p.Promote(ctx, e, id)
		require.NoError(t, err)
	}
	// Another build under the same label.
	_, err := w.p.Promote(ctx, "prod", release.Identity{Label: "v2.0.0", Digest: digestB, Commit: "abcdef1"})
	require.ErrorIs(t, err, release.ErrIdentity)
	assert.Contains(t, err.Error(), `digest: "`+digestB+`", but v2.0.0 was recorded with "`+digestA+`"`)
	// A fact the earlier environments never saw.
	_, err = w.p.Promote(ctx, "prod", release.Identity{Label: "v2.0.0", NotesURL: "https://example.com/n"})
	require.ErrorIs(t, err, release.ErrIdentity)
	assert.Contains(t, err.Error(), "notes_url")
	assert.Empty(t, w.prod.runs())

	// Leaving the digest out runs the recorded build.
	st, err := w.p.Promote(ctx, "prod", release.Identity{Label: "v2.0.0"})
	require.NoError(t, err)
	assert.Equal(t, release.Succeeded, st.Status)
	require.Len(t, w.prod.runs(), 1)
	assert.Equal(t, id, w.prod.runs()[0])

	_, err = w.p.Promote(ctx, "dev", release.Identity{Label: "latest"})
	require.ErrorIs(t, err, release.ErrMovingLabel)
}

func TestProdWaitsForApproval(t *testing.T) {
	ctx := context.Background()
	decide := make(chan error)
	asked := make(chan release.Identity, 1)
	w := newWorld(t, nil, func(ctx context.Context, id release.Identity, env string) (release.Approval, error) {
		asked <- id
		select {
		case err := <-decide:
			if err != nil {
				return release.Approval{}, err
			}
			return release.Approval{By: "bob"}, nil
		case <-ctx.Done():
			return release.Approval{}, ctx.Err()
		}
	})
	id := release.Identity{Label: "v3.0.0"}
	for _, e := range []string{"dev", "staging"} {
		_, err := w.p.Promote(ctx, e, id)
		require.NoError(t, err)
	}

	// Refused: nothing recorded, the release may ask again.
	done := make(chan error, 1)
	go func() { _, err := w.p.Promote(ctx, "prod", id); done <- err }()
	<-asked
	select {
	case <-done:
		t.Fatal("Promote returned before the approval")
	case <-time.After(20 * time.Millisecond):
	}
	assert.Empty(t, w.prod.runs(), "no rollout before the approval")
	decide <- errors.New("not during the sale")
	err := <-done
	require.ErrorIs(t, err, release.ErrNotApproved)
	assert.Contains(t, err.Error(), "not during the sale")
	rec, _, err := w.p.Record(ctx, "v3.0.0")
	require.NoError(t, err)
	assert.Len(t, rec.Path, 2)

	// Gave up waiting.
	cctx, cancel := context.WithCancel(ctx)
	go func() { _, err := w.p.Promote(cctx, "prod", id); done <- err }()
	<-asked
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)

	// Approved.
	go func() { _, err := w.p.Promote(ctx, "prod", id); done <- err }()
	<-asked
	decide <- nil
	require.NoError(t, <-done)
	rec, _, err = w.p.Record(ctx, "v3.0.0")
	require.NoError(t, err)
	require.Len(t, rec.Path, 3)
	assert.Equal(t, "bob", rec.Path[2].ApprovedBy)
	assert.Len(t, w.prod.runs(), 1)
}

func TestApprovalNamingNobodyIsRefused(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, nil, approveBy(" "))
	id := release.Identity{Label: "v3.1.0"}
	for _, e := range []string{"dev", "staging"} {
		_, err := w.p.Promote(ctx, e, id)
		require.NoError(t, err)
	}
	_, err := w.p.Promote(ctx, "prod", id)
	require.ErrorIs(t, err, release.ErrNotApproved)
	assert.Contains(t, err.Error(), "names nobody")
}

func TestRunningTwiceAndAbandon(t *testing.T) {
	ctx := context.Background()
	release1 := make(chan struct{})
	entered := make(chan struct{})
	var p *release.Pipeline
	p, err := release.New(release.Config{Environments: []release.Environment{{Name: "prod", Run: func(ctx context.Context, id release.Identity) (release.Outcome, error) {
		close(entered)
		<-release1
		return release.Outcome{}, errors.New("router unreachable")
	}}}})
	require.NoError(t, err)
	id := release.Identity{Label: "v4.0.0"}
	done := make(chan release.Stage, 1)
	go func() { st, _ := p.Promote(ctx, "prod", id); done <- st }()
	<-entered
	_, err = p.Promote(ctx, "prod", id)
	require.ErrorIs(t, err, release.ErrRunning)
	close(release1)
	st := <-done
	assert.Equal(t, release.Failed, st.Status)
	assert.Equal(t, "router unreachable", st.Reason)

	// A stage left running by a dead process is abandoned by hand.
	store := &release.MemoryStore{}
	require.NoError(t, store.Update(ctx, func(l *release.Ledger) error {
		l.Releases = append(l.Releases, release.Record{Identity: release.Identity{Label: "v5.0.0"},
			Path: []release.Stage{{Env: "prod", Status: release.Running, Start: t0}}})
		return nil
	}))
	p, err = release.New(release.Config{Store: store, Environments: []release.Environment{{Name: "prod", Run: func(context.Context, release.Identity) (release.Outcome, error) {
		return release.Outcome{Succeeded: true}, nil
	}}}})
	require.NoError(t, err)
	_, err = p.Promote(ctx, "prod", release.Identity{Label: "v5.0.0"})
	require.ErrorIs(t, err, release.ErrRunning)
	require.NoError(t, p.Abandon(ctx, "prod", "v5.0.0", "deploytool was killed"))
	require.Error(t, p.Abandon(ctx, "prod", "v5.0.0", "again"))
	_, err = p.Promote(ctx, "prod", release.Identity{Label: "v5.0.0"})
	require.ErrorIs(t, err, release.ErrStopped)
	assert.Contains(t, err.Error(), "abandoned: deploytool was killed")
}

func TestConfigErrors(t *testing.T) {
	_, err := release.New(release.Config{})
	require.ErrorContains(t, err, "environments: none")
	run := func(context.Context, release.Identity) (release.Outcome, error) { return release.Outcome{}, nil }
	_, err = release.New(release.Config{Environments: []release.Environment{{Name: "a", Run: run}, {Name: "a"}, {Name: " ", Run: run}}})
	require.Error(t, err)
	for _, want := range []string{`environments[1].name: "a" is also an earlier environment`, "environments[1].run: nil", "environments[2].name: empty"} {
		assert.Contains(t, err.Error(), want)
	}
}

// Separate processes (one CI job per environment) share the history file.
func TestFileStoreSharedBetweenPipelines(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "releases.json")
	id := release.Identity{Label: "v6.0.0", Digest: digestA, CommitTime: t0.Add(-2 * time.Hour)}
	a := newWorld(t, release.FileStore{Path: path}, approveBy("alice"))
	_, err := a.p.Promote(ctx, "dev", id)
	require.NoError(t, err)
	b := newWorld(t, release.FileStore{Path: path}, approveBy("alice"))
	_, err = b.p.Promote(ctx, "prod", id)
	require.ErrorIs(t, err, release.ErrOrder, "the second process sees the first one's record")
	_, err = b.p.Promote(ctx, "staging", id)
	require.NoError(t, err)
	_, err = a.p.Promote(ctx, "prod", release.Identity{Label: "v6.0.0", Digest: digestB})
	require.ErrorIs(t, err, release.ErrIdentity)

	// Concurrent writers lose nothing.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newWorld(t, release.FileStore{Path: path}, nil)
			_, err := w.p.Promote(ctx, "dev", release.Identity{Label: "v7.0." + string(rune('0'+i))})
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	recs, err := a.p.Records(ctx)
	require.NoError(t, err)
	assert.Len(t, recs, 9)

	b2, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(b2), "{\n  \"format\": 1,"), string(b2[:40]))
}

func TestHistoryFileFormats(t *testing.T) {
	ctx := context.Background()
	// A file written by format 1 (testdata) loads.
	l, err := release.FileStore{Path: filepath.Join("testdata", "releases-v1.json")}.Load(ctx)
	require.NoError(t, err)
	require.Len(t, l.Releases, 2)
	assert.Equal(t, "v1.0.0", l.Releases[0].Identity.Label)
	assert.Equal(t, release.Failed, l.Releases[1].Path[1].Status)

	l, err = release.FileStore{Path: filepath.Join(t.TempDir(), "none.json")}.Load(ctx)
	require.NoError(t, err)
	assert.Empty(t, l.Releases, "no file: an empty history")

	for _, tc := range []struct{ in, want string }{
		{`{"releases":[]}`, "format: missing (this version reads format 1)"},
		{`{"format":2,"releases":[]}`, "format: 2 is newer than this version reads (1): upgrade the tool"},
		{`{"format":0}`, "format: 0 is not supported"},
		{`{"format":1,"releases":[{"identity":{"label":""},"path":[]}]}`, "releases[0].identity.label: empty"},
		{`{"format":1,"releases":[{"identity":{"label":"v1.0.0"},"path":[{"env":"dev","status":"done"}]}]}`, `releases[0].path[0].status: "done"`},
		{`{"format":1,"extra":1}`, `unknown field "extra"`},
		{`nope`, "not valid JSON"},
	} {
		_, err := release.DecodeLedger([]byte(tc.in))
		require.Error(t, err, tc.in)
		assert.Contains(t, err.Error(), tc.want)
	}
}

func TestEnvironmentWindow(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 12, 4, 17, 30, 0, 0, time.UTC)) // Friday
	cal, err := window.New(window.Config{Allow: []window.Rule{{Name: "office", Days: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}, From: window.At(9, 0), To: window.At(18, 0)}}})
	require.NoError(t, err)
	ran := 0
	p, err := release.New(release.Config{Clock: clk, Environments: []release.Environment{{Name: "prod", Window: cal,
		Run: func(context.Context, release.Identity) (release.Outcome, error) {
			ran++
			return release.Outcome{Succeeded: true}, nil
		}}}})
	require.NoError(t, err)

	st, err := p.Promote(ctx, "prod", release.Identity{Label: "v1.0.0"})
	require.NoError(t, err, "17:30 is inside")
	assert.Empty(t, st.OverrideBy)

	clk.Advance(time.Hour) // 18:30
	_, err = p.Promote(ctx, "prod", release.Identity{Label: "v1.0.1"})
	require.ErrorIs(t, err, release.ErrClosed)
	var closed *release.ClosedError
	require.ErrorAs(t, err, &closed)
	assert.Equal(t, time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC), closed.Decision.Next)
	assert.Contains(t, err.Error(), "prod: outside the deployment window: closed by being outside every allow window, until Mon")
	assert.Equal(t, 1, ran)
	recs, err := p.Records(ctx)
	require.NoError(t, err)
	assert.Len(t, recs, 1, "a refused release is not recorded")

	require.NoError(t, cal.Override(window.Override{Who: "carol", Why: "CVE-2026-1", At: clk.Now(), Until: clk.Now().Add(time.Hour)}))
	st, err = p.Promote(ctx, "prod", release.Identity{Label: "v1.0.1"})
	require.NoError(t, err)
	assert.Equal(t, "carol", st.OverrideBy)
	assert.Equal(t, "CVE-2026-1", st.OverrideReason)
	rec, _, err := p.Record(ctx, "v1.0.1")
	require.NoError(t, err)
	assert.Equal(t, "carol", rec.Path[0].OverrideBy, "the override is in the history")
}

// FuzzDecodeLedger: any history file gives a ledger or an error, never a
// panic, and a ledger it gives has a label on every release.
func FuzzDecodeLedger(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "releases-v1.json"))
	require.NoError(f, err)
	f.Add(b)
	f.Add([]byte(`{"format":2}`))
	f.Add([]byte(`{"format":1,"releases":[{"identity":{"label":"v1.0.0"},"path":[{"env":"dev","status":"running"}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := release.DecodeLedger(data)
		if err != nil {
			return
		}
		for _, r := range l.Releases {
			if r.Identity.Label == "" {
				t.Fatal("a release without a label")
			}
		}
	})
}
