package ramp

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// A state file of any content either loads as a state that passes the
// same checks, or is an error naming the file; it never panics.
func FuzzLoadState(f *testing.F) {
	for _, s := range []string{
		`{"version":2,"stable":"v1","canary":"v2","phase":"progressing","step":1,"completed":1,"percent":20,"target":20}`,
		`{"version":1,"stable":"v1","canary":"v2","phase":"succeeded","step":2,"completed":3,"percent":37}`,
		`{"version":1,"phase":"progressing","step":2,"completed":50}`,
		`{"version":2,"phase":"paused","step":0,"completed":0,"percent":250}`,
		`{"version":3}`, `{"phase":"exploded"}`, `null`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "state.json")
		require.NoError(t, os.WriteFile(path, b, 0o600))
		st, err := NewFileStore(path).Load(bg)
		if err != nil {
			require.Contains(t, err.Error(), path)
			return
		}
		require.NoError(t, checkState(st, nil))
	})
}
