package haproxy

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/traffic"
)

func newTestRouter(t *testing.T, stable, canary int) (*Router, *fakeAPI) {
	t.Helper()
	f := newFakeAPI(t, map[string]int{"app/s1": stable, "app/s2": canary, "app/other": 7})
	r, err := New(Config{Addr: f.Addr, Backend: "app", Servers: map[string]string{"v1": "s1", "v2": "s2"}})
	require.NoError(t, err)
	return r, f
}

func TestNewValidates(t *testing.T) {
	_, err := New(Config{})
	require.Error(t, err)
	for _, s := range []string{"addr: empty", "backend: empty", "servers: none"} {
		assert.ErrorContains(t, err, s)
	}

	_, err = New(Config{
		Addr: "/x.sock", Backend: "app;x", Timeout: -time.Second,
		Servers: map[string]string{"": "s0", "v1": "s1", "v2": "s1", "v3": "s 3"},
	})
	require.Error(t, err)
	for _, s := range []string{
		"timeout: -1s is negative",
		`backend "app;x": character ';'`,
		`empty version label (server "s0")`,
		`versions "v1" and "v2" both map to server "s1"`,
		`servers["v3"] "s 3": character ' '`,
	} {
		assert.ErrorContains(t, err, s)
	}
}

func TestRouterApplyAndCurrent(t *testing.T) {
	r, f := newTestRouter(t, 100, 0)
	ctx := context.Background()

	cur, err := r.Current(ctx)
	require.NoError(t, err)
	assert.Equal(t, []traffic.Weight{{Backend: "v1", Percent: 100}, {Backend: "v2", Percent: 0}}, cur.Weights)

	steps := []struct {
		canary         float64
		stable, canW   int
		currentCanary  float64
		currentStable  float64
		commandsAtMost int
	}{
		{10, 252, 28, 10, 90, 4},
		{12.25, 222, 31, 12.25, 87.75, 4},
		{50, 256, 256, 50, 50, 4},
		{0.01, 256, 1, 0.39, 99.61, 4},
		{100, 0, 256, 100, 0, 4},
		{100, 0, 256, 100, 0, 2}, // nothing changes: reads only
		{0, 256, 0, 0, 100, 4},
	}
	for _, s := range steps {
		f.resetHistory()
		require.NoError(t, r.Apply(ctx, traffic.Split("v1", "v2", s.canary)), "%v%%", s.canary)
		assert.Equal(t, s.stable, f.weight("app/s1"), "%v%%", s.canary)
		assert.Equal(t, s.canW, f.weight("app/s2"), "%v%%", s.canary)
		assert.Equal(t, 7, f.weight("app/other"), "servers not in the map are never touched")
		assert.LessOrEqual(t, len(f.commands()), s.commandsAtMost)

		cur, err := r.Current(ctx)
		require.NoError(t, err)
		assert.Equal(t, []traffic.Weight{{Backend: "v1", Percent: s.currentStable}, {Backend: "v2", Percent: s.currentCanary}},
			cur.Weights, "%v%%", s.canary)
		require.NoError(t, cur.Validate(nil), "Current's route is valid")
	}
}

// TestRouterApplyOrder: weights are changed so that HAProxy never has all
// servers at 0, the version that gains share never has more than its new
// share on the way, and when one weight rises and the other falls the
// shares move straight from old to new.
func TestRouterApplyOrder(t *testing.T) {
	tests := []struct {
		name           string
		stable, canary int // initial weights
		to             float64
		wantFirst      string
		monotone       bool // one weight rises and the other falls, or only one changes
	}{
		{"promote from 0", 256, 0, 100, "set weight app/s2 256", true},
		{"roll back from 100", 0, 256, 0, "set weight app/s1 256", true},
		{"roll back from 50", 256, 256, 0, "set weight app/s2 0", true},
		{"canary grows", 252, 28, 60, "set weight app/s2 255", true},
		{"canary grows, both rise", 252, 28, 50, "set weight app/s1 256", false},
		{"canary grows, both fall", 256, 256, 60, "set weight app/s2 255", false},
		{"both rise (config weights 100/0)", 100, 0, 10, "set weight app/s1 252", false},
		{"both rise, canary gains", 100, 50, 60, "set weight app/s1 170", false},
		{"canary shrinks, both fall", 256, 256, 10, "set weight app/s1 252", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, f := newTestRouter(t, tt.stable, tt.canary)
			oldShare := float64(tt.canary) / float64(tt.canary+tt.stable)
			require.NoError(t, r.Apply(context.Background(), traffic.Split("v1", "v2", tt.to)))
			var sets []string
			for _, c := range f.commands() {
				if strings.HasPrefix(c, "set") {
					sets = append(sets, c)
				}
			}
			require.NotEmpty(t, sets)
			assert.Equal(t, tt.wantFirst, sets[0], "all: %v", sets)
			s1, s2 := f.weight("app/s1"), f.weight("app/s2")
			newShare := float64(s2) / float64(s1+s2)
			for _, snap := range f.history() {
				sum := snap["app/s1"] + snap["app/s2"]
				require.NotZero(t, sum, "all weights zero on the way: %v", snap)
				canary := float64(snap["app/s2"]) / float64(sum)
				lo, hi := min(oldShare, newShare), max(oldShare, newShare)
				if newShare > oldShare {
					assert.LessOrEqual(t, canary, newShare+1e-12, "the canary overshoots its new share: %v", snap)
				} else {
					assert.GreaterOrEqual(t, canary, newShare-1e-12, "the stable overshoots its new share: %v", snap)
				}
				if tt.monotone {
					assert.True(t, lo-1e-12 <= canary && canary <= hi+1e-12, "share %v outside [%v, %v]: %v", canary, lo, hi, snap)
				}
			}
		})
	}
}

func TestRouterApplyRefusesBeforeSending(t *testing.T) {
	r, f := newTestRouter(t, 256, 0)
	ctx := context.Background()
	tests := []struct {
		name  string
		route traffic.Route
		says  []string
	}{
		{"rules", traffic.Route{
			Weights: []traffic.Weight{{Backend: "v1", Percent: 100}},
			Rules:   []traffic.Rule{{Header: "X-Canary", Value: "1", Backend: "v2"}},
		}, []string{"haproxy router does not support match rules"}},
		{"mirror", traffic.Route{
			Weights: []traffic.Weight{{Backend: "v1", Percent: 100}},
			Mirror:  &traffic.Mirror{Backend: "v2", Percent: 5},
		}, []string{"haproxy router does not support mirroring"}},
		{"unknown version", traffic.Split("v1", "v3", 10), []string{`unknown backend "v3"`, "v1, v2"}},
		{"bad shares", traffic.Route{Weights: []traffic.Weight{{Backend: "v1", Percent: 60}, {Backend: "v2", Percent: 60}}},
			[]string{"add up to 120"}},
		{"nothing routed", traffic.Route{}, []string{"all zero"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.Apply(ctx, tt.route)
			require.Error(t, err)
			for _, s := range tt.says {
				assert.ErrorContains(t, err, s)
			}
		})
	}
	assert.ErrorIs(t, r.Apply(ctx, tests[0].route), ErrUnsupported)
	assert.ErrorIs(t, r.Apply(ctx, tests[2].route), traffic.ErrInvalidRoute)
	assert.Empty(t, f.commands(), "a refused route sends nothing")
}

func TestRouterApplyPartialFailure(t *testing.T) {
	r, f := newTestRouter(t, 256, 0)
	f.setAnswer(func(cmd string) (string, bool) {
		if cmd == "set weight app/s1 0" {
			return "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n\n", true
		}
		return "", false
	})
	err := r.Apply(context.Background(), traffic.Split("v1", "v2", 100))
	require.Error(t, err)
	var ce *CommandError
	require.ErrorAs(t, err, &ce)
	assert.Contains(t, ce.Message, "static LB algorithm")
	assert.ErrorContains(t, err, `setting version "v1" server app/s1 weight 0`)
	assert.ErrorContains(t, err, `already set: version "v2" server app/s2 weight 256`)
	assert.ErrorContains(t, err, "not set: none")
	assert.Equal(t, 256, f.weight("app/s2"))
	assert.Equal(t, 256, f.weight("app/s1"), "between old and new, never all zero")

	// A retry once HAProxy accepts sends only what is left.
	f.setAnswer(nil)
	f.resetHistory()
	require.NoError(t, r.Apply(context.Background(), traffic.Split("v1", "v2", 100)))
	assert.Equal(t, []string{"get weight app/s1", "get weight app/s2", "set weight app/s1 0"}, f.commands())
}

func TestRouterReadFailure(t *testing.T) {
	f := newFakeAPI(t, map[string]int{"app/s1": 256})
	r, err := New(Config{Addr: f.Addr, Backend: "app", Servers: map[string]string{"v1": "s1", "v2": "gone"}})
	require.NoError(t, err)
	err = r.Apply(context.Background(), traffic.Split("v1", "v2", 10))
	assert.ErrorContains(t, err, `reading weights: version "v2"`)
	assert.ErrorContains(t, err, "No such server.")
	_, err = r.Current(context.Background())
	assert.ErrorContains(t, err, "No such server.")
	for _, c := range f.commands() {
		assert.False(t, strings.HasPrefix(c, "set"), "nothing set when the weights cannot be read: %s", c)
	}
}

func TestRouterCurrentAllZero(t *testing.T) {
	r, _ := newTestRouter(t, 0, 0)
	cur, err := r.Current(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []traffic.Weight{{Backend: "v1"}, {Backend: "v2"}}, cur.Weights)
	assert.Error(t, cur.Validate(nil), "a route with no server is not a route that routes")
}

func TestRouterStates(t *testing.T) {
	r, f := newTestRouter(t, 256, 0)
	ctx := context.Background()
	require.NoError(t, r.Drain(ctx, "v2"))
	assert.Equal(t, "drain", f.state("app/s2"))
	require.NoError(t, r.Ready(ctx, "v2"))
	assert.Equal(t, "ready", f.state("app/s2"))
	require.NoError(t, r.SetState(ctx, "v1", Maint))
	assert.Equal(t, "maint", f.state("app/s1"))
	assert.ErrorContains(t, r.Drain(ctx, "v9"), `version "v9" has no server (known: v1, v2)`)
	assert.ErrorContains(t, r.SetState(ctx, "v1", State("off")), `"off" is not one of`)
	assert.Equal(t, f.Addr, r.Client().Addr)
}

func TestRouterConcurrentApply(t *testing.T) {
	r, f := newTestRouter(t, 256, 0)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, r.Apply(context.Background(), traffic.Split("v1", "v2", float64(10*i))))
			_, err := r.Current(context.Background())
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	for _, snap := range f.history() {
		assert.NotZero(t, snap["app/s1"]+snap["app/s2"], "all zero on the way: %v", snap)
	}
}

func TestChangeOrder(t *testing.T) {
	tests := []struct {
		have, want []int
		order      []int
	}{
		{[]int{256, 0}, []int{0, 256}, []int{1, 0}},
		{[]int{0, 256}, []int{256, 0}, []int{0, 1}},
		{[]int{5, 5}, []int{5, 5}, nil},
		{[]int{100, 0}, []int{252, 28}, []int{0, 1}},   // both rise: the loser of share first
		{[]int{256, 256}, []int{252, 28}, []int{0, 1}}, // both fall: the gainer of share first
		{[]int{0, 0}, []int{1, 1}, []int{0, 1}},
		{[]int{10, 0, 0}, []int{0, 5, 5}, []int{1, 2, 0}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.order, changeOrder(tt.have, tt.want), "%v → %v", tt.have, tt.want)
	}
}
