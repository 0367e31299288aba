package integration

import (
	"os/exec"
	"path"
	"path/filepath"
	"testing"
)

// GoBuild builds the main package pkg (an import path, or a directory
// such as ".") into the test's temporary directory and returns the
// binary's path, for tests that run a program of this module as a process
// of its own. Go's build cache makes a second build of the same package
// cheap. A failed build fails the test.
func GoBuild(t testing.TB, pkg string) string {
	t.Helper()
	name := path.Base(pkg)
	if name == "." || name == "/" {
		name = "main"
	}
	out := filepath.Join(t.TempDir(), name)
	if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}
