package ramp_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The README's quick start compiles against the current API: the first Go
// block under "## Quick start" is built as a file of a package that does
// not exist on disk (go build -overlay), with the imports it uses and the
// mustParse helper it assumes.
func TestREADMEQuickStartCompiles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a package with the go command")
	}
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)## Quick start\n.*?```go\n(.*?)```").FindSubmatch(readme)
	require.NotNil(t, m, "README.md has a Go block under ## Quick start")
	src := string(m[1])

	imports := map[string]string{
		"context.": "context", "fmt.": "fmt", "http.": "net/http", "time.": "time",
		"ramp.": "github.com/ramp-go/ramp", "analysis.": "github.com/ramp-go/ramp/analysis",
		"rollback.": "github.com/ramp-go/ramp/rollback", "strategy.": "github.com/ramp-go/ramp/strategy",
		"traffic.": "github.com/ramp-go/ramp/traffic",
	}
	var file strings.Builder
	file.WriteString("package readmecheck\n\nimport (\n\t\"net/url\"\n")
	for use, path := range imports {
		if regexp.MustCompile(`\b` + regexp.QuoteMeta(use)).MatchString(src) {
			file.WriteString("\t\"" + path + "\"\n")
		}
	}
	file.WriteString(")\n\nfunc mustParse(s string) *url.URL {\n\tu, err := url.Parse(s)\n\tif err != nil {\n\t\tpanic(err)\n\t}\n\treturn u\n}\n\n")
	file.WriteString(src)

	dir := t.TempDir()
	code := filepath.Join(dir, "quickstart.go")
	require.NoError(t, os.WriteFile(code, []byte(file.String()), 0o600))
	root, err := os.Getwd()
	require.NoError(t, err)
	virtual := filepath.Join(root, "internal", "readmecheck", "quickstart.go")
	overlay, err := json.Marshal(map[string]any{"Replace": map[string]string{virtual: code}})
	require.NoError(t, err)
	overlayFile := filepath.Join(dir, "overlay.json")
	require.NoError(t, os.WriteFile(overlayFile, overlay, 0o600))

	cmd := exec.Command("go", "build", "-overlay", overlayFile, "-o", os.DevNull, "./internal/readmecheck")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "README quick start does not compile:\n%s\n--- as built:\n%s", out, file.String())
}
