package haproxytest_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ramp-go/ramp/internal/integration"
	"github.com/ramp-go/ramp/traffic/haproxy/haproxytest"
)

func TestStart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts haproxy")
	}
	front := integration.FreeAddr(t)
	var dir string
	t.Run("process", func(t *testing.T) {
		hp := haproxytest.Start(t, fmt.Sprintf(`
frontend fe
    bind %s
    http-request return status 200 content-type text/plain string ok
`, front))
		dir = hp.Dir
		assert.Contains(t, hp.Config, "stats socket "+hp.Socket+" mode 600 level admin")

		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + front + "/")
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, "ok", string(b))

		c, err := net.Dial("unix", hp.Socket)
		require.NoError(t, err)
		_, err = io.WriteString(c, "show info\n")
		require.NoError(t, err)
		info, err := io.ReadAll(c)
		c.Close()
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(string(info), "Name: HAProxy"), "%.80s", info)
	})
	// Cleanup stopped the process and removed its directory.
	_, err := os.Stat(dir)
	assert.True(t, os.IsNotExist(err), "%s still there: %v", dir, err)
	_, err = net.DialTimeout("tcp", front, 200*time.Millisecond)
	assert.Error(t, err, "haproxy still listening after the test")
}
