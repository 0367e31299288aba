package ramp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/clock"
	"github.com/ramp-go/ramp/strategy"
)

const childEnv = "RAMP_TEST_CHILD_STATE"

// childSteps is the strategy both the child process and the parent use.
func childSteps(first, hold time.Duration) strategy.Strategy {
	return steps(
		strategy.Step{Percent: 10, Hold: first},
		strategy.Step{Percent: 50, Hold: hold},
		strategy.Step{Percent: 90, Hold: hold},
	)
}

// TestMain runs the child process of the restart tests when asked to:
// the test binary re-executed with childEnv set runs a rollout with a file
// store until it is killed.
func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(childRollout(path))
	}
	os.Exit(m.Run())
}

func childRollout(path string) int {
	first, err1 := time.ParseDuration(os.Getenv("RAMP_TEST_CHILD_FIRST"))
	hold, err2 := time.ParseDuration(os.Getenv("RAMP_TEST_CHILD_HOLD"))
	if err := errors.Join(err1, err2); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	r, err := New(context.Background(), Config{
		Stable: "v1", Canary: "v2", Strategy: childSteps(first, hold), Router: newFakeRouter(), Store: NewFileStore(path),
	})
	if err == nil {
		err = r.Run(context.Background())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

func startChild(t *testing.T, state string, first, hold time.Duration) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+state,
		"RAMP_TEST_CHILD_FIRST="+first.String(), "RAMP_TEST_CHILD_HOLD="+hold.String())
	require.NoError(t, cmd.Start())
	return cmd
}

// A real child process is killed with SIGKILL while it holds step 1; the
// parent restarts from the same file and resumes at step 1.
func TestKillAndResume(t *testing.T) {
	for _, policy := range []RestartPolicy{Resume, RollBack} {
		name := map[RestartPolicy]string{Resume: "resume", RollBack: "roll_back"}[policy]
		t.Run(name, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "rollout.json")
			store := NewFileStore(state)
			// Step 0 lasts 50ms, step 1 an hour: the child is killed in step 1.
			child := startChild(t, state, 50*time.Millisecond, time.Hour)
			defer child.Process.Kill()
			waitState(t, store, func(s State) bool { return s.Step == 1 && s.Phase == Progressing && s.Percent == 50 })
			require.NoError(t, child.Process.Signal(syscall.SIGKILL))
			_ = child.Wait()

			h := newHarness(t, childSteps(50*time.Millisecond, time.Hour), func(c *Config) {
				c.Store, c.OnRestart = store, policy
				c.Clock = clock.NewFake(time.Now()) // the saved times are real ones
			})
			before := h.r.Status()
			require.Equal(t, Progressing, before.Phase, "restored from the file, not started afresh")
			require.Equal(t, 1, before.Step)
			require.Equal(t, 50.0, before.Percent)
			h.start()
			if policy == RollBack {
				h.until(h.phase(RolledBack))
				assert.Contains(t, h.r.Status().Reason, "restarted at step 2 of 3 (50.00%)")
				assert.Equal(t, []float64{0}, h.router.percents(), "straight back to stable")
				return
			}
			h.until(h.atStep(1))
			h.until(func() bool { return len(h.router.percents()) == 1 }) // the saved share was already confirmed
			assert.False(t, h.has(EventStarted, -1), "resumed, not started again")
			assert.False(t, h.has(EventStepStarted, 0), "step 0 is not replayed")
			assert.Equal(t, []float64{50}, h.router.percents(), "the step's route is applied again")
			require.NoError(t, h.r.Promote())
			h.until(h.atStep(2))
			require.NoError(t, h.r.Promote())
			h.until(h.phase(Succeeded))
			assert.Equal(t, []float64{50, 90, 100}, h.router.percents())
			saved, err := store.Load(bg)
			require.NoError(t, err)
			assert.Equal(t, Succeeded, saved.Phase)
		})
	}
}

// Kill the child at random instants of a fast rollout, many times. Each
// time the file must load (never torn) and the step never goes backwards;
// in the end the rollout completes.
func TestKillAtRandomInstants(t *testing.T) {
	state := filepath.Join(t.TempDir(), "rollout.json")
	store := NewFileStore(state)
	rng := rand.New(rand.NewPCG(1, 2))
	lastStep := -1
	kills := 0
	for range 20 {
		s, err := store.Load(bg)
		if err == nil && s.Phase.Done() {
			break
		}
		child := startChild(t, state, 400*time.Millisecond, 400*time.Millisecond)
		time.Sleep(time.Duration(20+rng.IntN(150)) * time.Millisecond) // a random instant, not a duration under test
		_ = child.Process.Signal(syscall.SIGKILL)
		_ = child.Wait()
		kills++
		s, err = store.Load(bg)
		if err != nil {
			require.ErrorIs(t, err, ErrNoState, "a killed process never leaves a torn file")
			continue
		}
		require.GreaterOrEqual(t, s.Step, lastStep, "the step never goes backwards")
		lastStep = s.Step
	}
	// The same plan as the child's: a restart never changes it silently.
	r, err := New(bg, Config{Stable: "v1", Canary: "v2", Strategy: childSteps(400*time.Millisecond, 400*time.Millisecond), Router: newFakeRouter(), Store: store})
	require.NoError(t, err)
	require.NoError(t, r.Run(bg))
	assert.Equal(t, Succeeded, r.Status().Phase)
	t.Logf("killed the child %d times; last step seen %d", kills, lastStep)
}

func waitState(t *testing.T, store *FileStore, cond func(State) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if s, err := store.Load(bg); err == nil && cond(s) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("child never reached the expected state")
}

func TestFileStore(t *testing.T) {
	dir := t.TempDir()
	st := NewFileStore(filepath.Join(dir, "s.json"))
	_, err := st.Load(bg)
	require.ErrorIs(t, err, ErrNoState)

	want := State{Stable: "v1", Canary: "v2", Phase: Paused, Step: 2, Completed: 2, Percent: 12.25, Target: 12.25, Reasons: []string{"x"},
		PausedAt:  t0.Add(2 * time.Minute),
		StartedAt: t0, StepStartedAt: t0.Add(time.Minute), UpdatedAt: t0.Add(2 * time.Minute)}
	require.NoError(t, st.Save(bg, want))
	got, err := st.Load(bg)
	require.NoError(t, err)
	want.Version = StateVersion
	assert.Equal(t, want, got)
	raw, err := os.ReadFile(st.Path)
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"version": 2`)
	assert.Contains(t, string(raw), `"phase": "paused"`, "human-readable")

	for name, content := range map[string]string{
		"corrupt":     `{"version": 1, "phase": `,
		"bad phase":   `{"version": 1, "phase": "exploded"}`,
		"new version": `{"version": 99}`,
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name+".json")
			require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
			_, err := NewFileStore(p).Load(bg)
			require.Error(t, err)
			assert.NotErrorIs(t, err, ErrNoState, "never silently reset")
			assert.Contains(t, err.Error(), p)
			// And a rollout refuses to start on it.
			_, err = New(bg, Config{Stable: "v1", Canary: "v2", Strategy: steps(), Router: newFakeRouter(), Store: NewFileStore(p)})
			assert.Error(t, err)
		})
	}
}

func TestStoreOfAnotherRelease(t *testing.T) {
	st := NewFileStore(filepath.Join(t.TempDir(), "s.json"))
	h := newHarness(t, steps(strategy.Step{Percent: 10, Hold: time.Second}), func(c *Config) { c.Store = st })
	h.start()
	h.pump(time.Second, h.phase(Succeeded))
	require.NoError(t, h.wait())

	// The next release starts fresh but keeps the history.
	h2 := newHarness(t, steps(strategy.Step{Percent: 10}), func(c *Config) { c.Store = st; c.Stable, c.Canary = "v2", "v3" })
	require.Equal(t, Pending, h2.r.Status().Phase)
	h2.start()
	h2.until(h2.atStep(0))
	hist := h2.r.Status().History
	require.Len(t, hist, 2)
	assert.Equal(t, "v2", hist[0].Version)
	assert.Equal(t, "v3", hist[1].Version)

	// A third release may not start over an unfinished one.
	_, err := New(bg, Config{Stable: "v3", Canary: "v4", Strategy: steps(), Router: newFakeRouter(), Store: st})
	require.ErrorContains(t, err, "holds an unfinished rollout v2 → v3 (phase progressing)")
}
