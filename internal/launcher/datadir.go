package launcher

import (
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// DefaultDataDir is the roles' --data-dir default.
const DefaultDataDir = "/var/lib/skiff"

// defaultConfigFile is the roles' --config default.
const defaultConfigFile = "/etc/skiff/config.yaml"

// dataDir is the data dir the command will use, found as the roles find it
// (the command line, then SKIFF_DATA_DIR, then the config file, then the
// default), so that a server's runtime sits in its own data dir. A name
// kubectl, crictl or ctr takes no such flags: it uses the default.
func dataDir(args []string, getenv func(string) string) string {
	config := getenv("SKIFF_CONFIG_FILE")
	dir := ""
	if len(args) > 0 && filepath.Base(args[0]) == "skiff" {
		for i := 1; i < len(args); i++ {
			a := args[i]
			if a == "--" {
				break
			}
			if !strings.HasPrefix(a, "-") {
				continue
			}
			name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if !hasValue && i+1 < len(args) {
				value = args[i+1]
			}
			switch name {
			case "data-dir", "d":
				dir = value
			case "config", "c":
				config = value
			}
		}
	}
	if dir != "" {
		return dir
	}
	if d := getenv("SKIFF_DATA_DIR"); d != "" {
		return d
	}
	if config == "" {
		config = defaultConfigFile
	}
	if d := configDataDir(config); d != "" {
		return d
	}
	return DefaultDataDir
}

// configDataDir is the config file's data-dir, or "" when it names none or
// cannot be read (the role itself then says what is wrong with it).
func configDataDir(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var keys struct {
		DataDir string `yaml:"data-dir"`
	}
	if yaml.Unmarshal(data, &keys) != nil {
		return ""
	}
	return keys.DataDir
}
