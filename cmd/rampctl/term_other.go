//go:build !linux

package main

import "os"

// termWidth is 0: the width comes from $COLUMNS or is 80.
func termWidth(*os.File) int { return 0 }
