// compose-config loads a compose file the way `docker compose config --format json` does,
// with compose-go (the library Docker Compose itself is built on), and prints the resolved
// project as JSON. There is no Docker engine on the machines that test GoVault, so this
// is how the tests read compose.yaml: with the real loader's schema validation, its
// consistency checks (depends_on, volumes and networks that exist) and its interpolation,
// never a re-implementation of them.
//
//	go run . [-env-file FILE] [-profile NAME]... COMPOSE_FILE
//
// Unlike docker compose, the process environment is not read: the output depends on the
// files alone, so a test sees what `cp .env.example .env && docker compose up` would see,
// whatever its own shell exports. An invalid file exits 1 with the loader's message.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

// profiles collects repeated -profile flags ("*" enables every profile, as in docker compose).
type profiles []string

func (p *profiles) String() string     { return strings.Join(*p, ",") }
func (p *profiles) Set(v string) error { *p = append(*p, v); return nil }

func main() {
	envFile := flag.String("env-file", "", "an env file to interpolate with (like docker compose --env-file); none by default")
	var enabled profiles
	flag.Var(&enabled, "profile", "a profile to enable; repeatable, \"*\" for all")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: compose-config [-env-file FILE] [-profile NAME]... COMPOSE_FILE")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	out, err := resolve(flag.Arg(0), *envFile, enabled)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Stdout.Write(append(out, '\n'))
}

// resolve loads composeFile with every check on and answers the project as JSON.
func resolve(composeFile, envFile string, enabled []string) ([]byte, error) {
	abs, err := filepath.Abs(composeFile)
	if err != nil {
		return nil, err
	}
	options := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(filepath.Dir(abs)),
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
		cli.WithProfiles(enabled),
	}
	// WithEnvFiles only names the file, WithDotEnv reads it. Never WithEnvFiles() without a
	// name: it would pick up a .env beside the compose file by itself.
	if envFile != "" {
		options = append(options, cli.WithEnvFiles(envFile), cli.WithDotEnv)
	}
	projectOptions, err := cli.NewProjectOptions([]string{abs}, options...)
	if err != nil {
		return nil, err
	}
	project, err := projectOptions.LoadProject(context.Background())
	if err != nil {
		return nil, err
	}
	return project.MarshalJSON()
}
