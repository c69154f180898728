// Command k8s-strict decodes rendered Kubernetes manifests strictly: it reads
// multi-document YAML on stdin and decodes every object into its k8s.io/api type by
// apiVersion and kind. An unknown kind, an unknown or misspelled field (matched
// case-sensitively, as the API server does), a duplicate key or a wrong value type is an
// error. On success it prints one line per kind with its count; on failure every error,
// and it exits 1.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// The API groups a chart may render; anything else is refused as an unknown kind.
var groups = []func(*runtime.Scheme) error{
	corev1.AddToScheme,
	appsv1.AddToScheme,
	autoscalingv2.AddToScheme,
	batchv1.AddToScheme,
	networkingv1.AddToScheme,
	policyv1.AddToScheme,
	rbacv1.AddToScheme,
}

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

func main() {
	scheme := runtime.NewScheme()
	for _, add := range groups {
		if err := add(scheme); err != nil {
			fmt.Fprintln(os.Stderr, "k8s-strict: building the scheme:", err)
			os.Exit(2)
		}
	}
	counts, errs := decodeAll(scheme, os.Stdin)
	if len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintln(os.Stderr, err)
		}
		fmt.Fprintf(os.Stderr, "k8s-strict: %d error(s)\n", len(errs))
		os.Exit(1)
	}
	printSummary(counts)
}

// decodeAll decodes every document of the stream and counts objects by "apiVersion Kind".
func decodeAll(scheme *runtime.Scheme, in io.Reader) (map[string]int, []error) {
	counts := map[string]int{}
	var errs []error
	reader := utilyaml.NewYAMLReader(bufio.NewReader(in))
	for index := 0; ; index++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return counts, append(errs, fmt.Errorf("document %d: reading: %w", index, err))
		}
		key, err := decodeOne(scheme, doc)
		if err != nil {
			errs = append(errs, fmt.Errorf("document %d: %w", index, err))
		} else if key != "" {
			counts[key]++
		}
	}
	if len(counts) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("no objects on stdin"))
	}
	return counts, errs
}

// decodeOne decodes one document; an empty one (comments only, as Helm leaves for a
// template that renders nothing) gives "" and no error.
func decodeOne(scheme *runtime.Scheme, doc []byte) (string, error) {
	data, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return "", fmt.Errorf("not strict YAML: %w", err)
	}
	if trimmed := bytes.TrimSpace(data); len(trimmed) == 0 || string(trimmed) == "null" {
		return "", nil
	}
	var meta typeMeta
	if err := kjson.UnmarshalCaseSensitivePreserveInts(data, &meta); err != nil {
		return "", fmt.Errorf("not an object: %w", err)
	}
	where := fmt.Sprintf("%s %s %q", meta.APIVersion, meta.Kind, meta.Metadata.Name)
	gv, err := schema.ParseGroupVersion(meta.APIVersion)
	if err != nil || meta.Kind == "" {
		return "", fmt.Errorf("%s: apiVersion and kind are required", where)
	}
	obj, err := scheme.New(gv.WithKind(meta.Kind))
	if err != nil {
		return "", fmt.Errorf("%s: unknown kind: %w", where, err)
	}
	strict, err := kjson.UnmarshalStrict(data, obj)
	if err != nil {
		return "", fmt.Errorf("%s: %w", where, err)
	}
	if len(strict) > 0 {
		messages := make([]string, len(strict))
		for i, e := range strict {
			messages[i] = e.Error()
		}
		return "", fmt.Errorf("%s: %s", where, strings.Join(messages, "; "))
	}
	return meta.APIVersion + " " + meta.Kind, nil
}

func printSummary(counts map[string]int) {
	keys := make([]string, 0, len(counts))
	total := 0
	for key, n := range counts {
		keys = append(keys, key)
		total += n
	}
	sort.Strings(keys)
	for _, key := range keys {
		fmt.Printf("%s %d\n", key, counts[key])
	}
	fmt.Printf("ok: %d objects decoded strictly\n", total)
}
