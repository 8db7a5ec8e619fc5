// rollouts-validate asks Argo Rollouts' own code whether Rollouts and AnalysisTemplates are valid.
//
// It is compiled inside the github.com/argoproj/argo-rollouts module at the version of the locked
// Rollout CRDs (gitops_check/toolchain.py copies this file into that module and runs `go build`), so
// every verdict below comes from upstream functions, called as the controllers call them:
//
//   - the rollout controller (rollout/controller.go getRolloutValidationErrors): ValidateRollout, then the
//     referenced Services, AnalysisTemplates, Ingresses and VirtualServices gathered like
//     getRolloutReferencedResources, then ValidateRolloutReferencedResources;
//   - the analysis controller (analysis/analysis.go reconcileAnalysisRun): the AnalysisRun a Rollout would
//     create (NewAnalysisRunFromTemplates with BuildArgumentsForRolloutAnalysisRun), its metrics resolved
//     with its args, then ValidateMetrics, GetDryRunMetrics and GetMeasurementRetentionMetrics;
//   - every AnalysisTemplate on its own, as the analysis controller would judge a run made from it alone;
//   - every Prometheus and Datadog metric's successCondition/failureCondition, args substituted as the
//     analysis controller substitutes them (the template's own values, and the values each Rollout passes
//     in the runs it creates), judged by upstream's evaluator (utils/evaluate EvaluateResult, which the
//     providers call on each query result) over probe results a query can return: a metric none of whose
//     probes is Failed cannot fail the analysis ("evaluate.EvaluateResult"); one whose every probe is an
//     Error can never succeed ("evaluate.EvalCondition").
//
// Unlike `kubectl argo rollouts lint` it reports every error (not the first), knows AnalysisTemplates and
// keeps each source's objects apart. It never reaches the network: input is JSON on stdin, output JSON on
// stdout.
//
//	stdin:  {"groups": [{"id": "overlays/production", "objects": [{...}, ...]}, ...]}
//	stdout: {"checked": {"Rollout": N, "AnalysisTemplate": M, ...},
//	         "findings": [{"group", "kind", "namespace", "name", "field", "message", "check"}]}
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/antonmedv/expr/ast"
	"github.com/antonmedv/expr/parser"
	"github.com/sirupsen/logrus"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/validation"
	analysisutil "github.com/argoproj/argo-rollouts/utils/analysis"
	"github.com/argoproj/argo-rollouts/utils/evaluate"
	ingressutil "github.com/argoproj/argo-rollouts/utils/ingress"
	istioutil "github.com/argoproj/argo-rollouts/utils/istio"
)

type input struct {
	Groups []struct {
		ID      string            `json:"id"`
		Objects []json.RawMessage `json:"objects"`
	} `json:"groups"`
}

type finding struct {
	Group     string `json:"group"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Field     string `json:"field"`
	Message   string `json:"message"`
	Check     string `json:"check"`
}

type output struct {
	Checked  map[string]int `json:"checked"`
	Findings []finding      `json:"findings"`
}

// group holds one source's objects, indexed the way the controllers' listers find them.
type group struct {
	id               string
	rollouts         []*v1alpha1.Rollout
	services         map[string]*corev1.Service
	templates        map[string]*v1alpha1.AnalysisTemplate
	clusterTemplates map[string]*v1alpha1.ClusterAnalysisTemplate
	ingresses        map[string]*ingressutil.Ingress
	virtualServices  map[string]*unstructured.Unstructured
	workloads        map[string]*unstructured.Unstructured // group-kind/namespace/name, for workloadRef
	templateOrder    []*v1alpha1.AnalysisTemplate
	clusterOrder     []*v1alpha1.ClusterAnalysisTemplate
	judged           map[string]bool // template metrics whose conditions were judged with their own arg values
	out              *output
}

func key(namespace, name string) string { return namespace + "/" + name }

func (g *group) report(kind string, meta metav1.Object, fld, msg, check string) {
	g.out.Findings = append(g.out.Findings, finding{g.id, kind, meta.GetNamespace(), meta.GetName(), fld, msg, check})
}

// safely runs one object's validation; a panic in upstream code becomes that object's finding instead of
// ending the whole run.
func (g *group) safely(kind string, meta metav1.Object, validate func()) {
	defer func() {
		if r := recover(); r != nil {
			g.report(kind, meta, "", fmt.Sprintf("Argo Rollouts' validation panicked on this object: %v", r), "panic")
		}
	}()
	validate()
}

func (g *group) reportErr(kind string, meta metav1.Object, err error, check string) {
	if fe, ok := err.(*field.Error); ok {
		g.report(kind, meta, fe.Field, fe.ErrorBody(), check)
		return
	}
	g.report(kind, meta, "", err.Error(), check)
}

// decode reads one object into its typed form; a decoding error is reported, as the controller's
// informer would fail to decode it.
func (g *group) decode(raw json.RawMessage, u *unstructured.Unstructured, into any) bool {
	if err := json.Unmarshal(raw, into); err != nil {
		g.report(u.GetKind(), u, "", "cannot be decoded by Argo Rollouts: "+err.Error(), "decode")
		return false
	}
	return true
}

func (g *group) add(raw json.RawMessage) {
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(raw); err != nil {
		return // not an object the controllers would ever see; the API server stage reports it
	}
	gvk := u.GroupVersionKind()
	switch {
	case gvk.Group == "argoproj.io" && gvk.Kind == "Rollout":
		ro := &v1alpha1.Rollout{}
		if g.decode(raw, u, ro) {
			g.rollouts = append(g.rollouts, ro)
		}
	case gvk.Group == "argoproj.io" && gvk.Kind == "AnalysisTemplate":
		t := &v1alpha1.AnalysisTemplate{}
		if g.decode(raw, u, t) {
			g.templates[key(t.Namespace, t.Name)] = t
			g.templateOrder = append(g.templateOrder, t)
		}
	case gvk.Group == "argoproj.io" && gvk.Kind == "ClusterAnalysisTemplate":
		t := &v1alpha1.ClusterAnalysisTemplate{}
		if g.decode(raw, u, t) {
			g.clusterTemplates[t.Name] = t
			g.clusterOrder = append(g.clusterOrder, t)
		}
	case gvk.Group == "" && gvk.Kind == "Service":
		s := &corev1.Service{}
		if g.decode(raw, u, s) {
			g.services[key(s.Namespace, s.Name)] = s
		}
	case gvk.Group == "networking.k8s.io" && gvk.Kind == "Ingress" && gvk.Version == "v1":
		i := &networkingv1.Ingress{}
		if g.decode(raw, u, i) {
			g.ingresses[key(i.Namespace, i.Name)] = ingressutil.NewIngress(i)
		}
	case gvk.Group == "extensions" && gvk.Kind == "Ingress":
		i := &extensionsv1beta1.Ingress{}
		if g.decode(raw, u, i) {
			g.ingresses[key(i.Namespace, i.Name)] = ingressutil.NewLegacyIngress(i)
		}
	case gvk.Group == "networking.istio.io" && gvk.Kind == "VirtualService":
		g.virtualServices[key(u.GetNamespace(), u.GetName())] = u
	}
	g.workloads[gvk.GroupKind().String()+"/"+key(u.GetNamespace(), u.GetName())] = u
}

// workloadPaths are where upstream's template resolver (rollout/templateref.go infoByGroupKind) reads a
// referenced workload's pod template and selector.
var workloadPaths = map[string][2][]string{
	"PodTemplate":     {{"template"}, nil},
	"Deployment.apps": {{"spec", "template"}, {"spec", "selector"}},
	"ReplicaSet.apps": {{"spec", "template"}, {"spec", "selector"}},
}

// resolveWorkloadRef does what rollout/templateref.go (informerBasedTemplateResolver.Resolve) does before
// the controller validates a Rollout with a workloadRef: the referenced workload's pod template (and its
// selector, when the Rollout has none) become the Rollout's.
func (g *group) resolveWorkloadRef(ro *v1alpha1.Rollout) *field.Error {
	ref := ro.Spec.WorkloadRef
	fld := field.NewPath("spec", "workloadRef")
	if ref == nil {
		return nil
	}
	if !ro.Spec.EmptyTemplate() {
		return nil // ValidateRollout reports "template must be empty for workload reference rollout"
	}
	gk := schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind).GroupKind()
	paths, ok := workloadPaths[gk.String()]
	if !ok {
		return field.Invalid(fld, ref.Kind, fmt.Sprintf("workload of type %s/%s is not supported", gk.Group, gk.Kind))
	}
	u, ok := g.workloads[gk.String()+"/"+key(ro.Namespace, ref.Name)]
	if !ok {
		return field.Invalid(fld.Child("name"), ref.Name, fmt.Sprintf("%s %q not found", strings.ToLower(gk.String()), ref.Name))
	}
	if m, found, _ := unstructured.NestedMap(u.Object, paths[0]...); found {
		var t corev1.PodTemplateSpec
		if err := remarshal(m, &t); err != nil {
			return field.Invalid(fld, ref.Name, err.Error())
		}
		ro.Spec.SetResolvedTemplate(t)
	}
	if ro.Spec.Selector == nil && paths[1] != nil {
		if m, found, _ := unstructured.NestedMap(u.Object, paths[1]...); found {
			var sel metav1.LabelSelector
			if err := remarshal(m, &sel); err != nil {
				return field.Invalid(fld, ref.Name, err.Error())
			}
			ro.Spec.SetResolvedSelector(&sel)
		}
	}
	return nil
}

func remarshal(in map[string]any, out any) error {
	data, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, out)
}

// references gathers what a Rollout refers to, as rollout/controller.go getRolloutReferencedResources
// does with its listers; a missing object is the same field error the controller raises.
func (g *group) references(ro *v1alpha1.Rollout) (validation.ReferencedResources, field.ErrorList) {
	refs := validation.ReferencedResources{}
	var errs field.ErrorList
	service := func(name string, t validation.ServiceType) {
		if name == "" {
			return
		}
		if svc, ok := g.services[key(ro.Namespace, name)]; ok {
			refs.ServiceWithType = append(refs.ServiceWithType, validation.ServiceWithType{Service: svc.DeepCopy(), Type: t})
			return
		}
		errs = append(errs, field.Invalid(validation.GetServiceWithTypeFieldPath(t), name, fmt.Sprintf("services %q not found", name)))
	}
	analyses := func(a *v1alpha1.RolloutAnalysis, t validation.AnalysisTemplateType, step int) {
		if a == nil {
			return
		}
		fldPath := validation.GetAnalysisTemplateWithTypeFieldPath(t, step)
		templates, clusterTemplates, err := g.templatesFromRefs(ro.Namespace, a.Templates, fldPath, 0)
		if err != nil {
			errs = append(errs, err)
			return
		}
		refs.AnalysisTemplatesWithType = append(refs.AnalysisTemplatesWithType, validation.AnalysisTemplatesWithType{
			AnalysisTemplates: templates, ClusterAnalysisTemplates: clusterTemplates, TemplateType: t, CanaryStepIndex: step, Args: a.Args,
		})
	}
	if bg := ro.Spec.Strategy.BlueGreen; bg != nil {
		service(bg.ActiveService, validation.ActiveService)
		service(bg.PreviewService, validation.PreviewService)
		analyses(bg.PrePromotionAnalysis, validation.PrePromotionAnalysis, 0)
		analyses(bg.PostPromotionAnalysis, validation.PostPromotionAnalysis, 0)
	} else if c := ro.Spec.Strategy.Canary; c != nil {
		service(c.StableService, validation.StableService)
		service(c.CanaryService, validation.CanaryService)
		if c.PingPong != nil {
			service(c.PingPong.PingService, validation.PingService)
			service(c.PingPong.PongService, validation.PongService)
		}
		for i, step := range c.Steps {
			analyses(step.Analysis, validation.InlineAnalysis, i)
		}
		if c.Analysis != nil {
			analyses(&c.Analysis.RolloutAnalysis, validation.BackgroundAnalysis, 0)
		}
	}
	for _, check := range []func(*v1alpha1.Rollout) error{validation.ValidateRolloutNginxIngressesConfig, validation.ValidateRolloutAlbIngressesConfig, validation.ValidateRolloutVirtualServicesConfig} {
		if err := check(ro); err != nil {
			errs = append(errs, toFieldError(err))
			return refs, errs
		}
	}
	if c := ro.Spec.Strategy.Canary; c != nil && c.TrafficRouting != nil {
		tr := c.TrafficRouting
		ingress := func(name string, fld *field.Path) {
			if ing, ok := g.ingresses[key(ro.Namespace, name)]; ok {
				refs.Ingresses = append(refs.Ingresses, *ing)
			} else {
				errs = append(errs, field.Invalid(fld, name, fmt.Sprintf("ingress.networking.k8s.io %q not found", name)))
			}
		}
		trPath := field.NewPath("spec", "strategy", "canary", "trafficRouting")
		if tr.ALB != nil {
			if tr.ALB.Ingresses != nil {
				for _, n := range tr.ALB.Ingresses {
					ingress(n, trPath.Child("alb", "ingresses"))
				}
			} else {
				ingress(tr.ALB.Ingress, trPath.Child("alb", "ingress"))
			}
		} else if tr.Nginx != nil {
			if tr.Nginx.StableIngresses != nil {
				for _, n := range tr.Nginx.StableIngresses {
					ingress(n, trPath.Child("nginx", "stableIngresses"))
				}
			} else {
				ingress(tr.Nginx.StableIngress, trPath.Child("nginx", "stableIngress"))
			}
		}
		if tr.Istio != nil {
			vsvcs := tr.Istio.VirtualServices
			fld := trPath.Child("istio", "virtualServices", "name")
			if !istioutil.MultipleVirtualServiceConfigured(ro) {
				vsvcs = []v1alpha1.IstioVirtualService{*tr.Istio.VirtualService}
				fld = trPath.Child("istio", "virtualService", "name")
			}
			for _, v := range vsvcs {
				ns, name := istioutil.GetVirtualServiceNamespaceName(v.Name)
				if ns == "" {
					ns = ro.Namespace
				}
				if vs, ok := g.virtualServices[key(ns, name)]; ok {
					refs.VirtualServices = append(refs.VirtualServices, *vs.DeepCopy())
				} else {
					errs = append(errs, field.Invalid(fld, name, fmt.Sprintf("virtualservices.networking.istio.io %q not found", name)))
				}
			}
		}
	}
	return refs, errs
}

// templatesFromRefs follows template references (and nested ones) like getReferencedAnalysisTemplatesFromRef.
// Each template is expanded once per walk: the result is the set of unique templates, and twelve templates each
// naming the next ten times made 10^11 expansions (the run reached its timeout). A template naming one of the
// templates that name it is a reference cycle, refused.
func (g *group) templatesFromRefs(namespace string, refs []v1alpha1.AnalysisTemplateRef, fldPath *field.Path, depth int) ([]*v1alpha1.AnalysisTemplate, []*v1alpha1.ClusterAnalysisTemplate, *field.Error) {
	var templates []*v1alpha1.AnalysisTemplate
	var clusterTemplates []*v1alpha1.ClusterAnalysisTemplate
	if err := g.walkRefs(namespace, refs, fldPath, depth, map[string]bool{}, map[string]bool{}, &templates, &clusterTemplates); err != nil {
		return nil, nil, err
	}
	t, c := analysisutil.FilterUniqueTemplates(templates, clusterTemplates)
	return t, c, nil
}

func (g *group) walkRefs(namespace string, refs []v1alpha1.AnalysisTemplateRef, fldPath *field.Path, depth int,
	expanded, onPath map[string]bool, templates *[]*v1alpha1.AnalysisTemplate, clusterTemplates *[]*v1alpha1.ClusterAnalysisTemplate) *field.Error {
	if depth > 32 {
		return field.Invalid(fldPath, "", "analysis templates nest more than 32 levels deep (a reference cycle?)")
	}
	for _, ref := range refs {
		var nested []v1alpha1.AnalysisTemplateRef
		id := "namespaced/" + key(namespace, ref.TemplateName)
		if ref.IsClusterScope() {
			id = "cluster/" + ref.TemplateName
		}
		if onPath[id] {
			return field.Invalid(fldPath, ref.TemplateName, "analysis templates refer to each other in a cycle")
		}
		if expanded[id] {
			continue
		}
		expanded[id] = true
		if ref.IsClusterScope() {
			t, ok := g.clusterTemplates[ref.TemplateName]
			if !ok {
				return field.Invalid(fldPath, ref.TemplateName, fmt.Sprintf("ClusterAnalysisTemplate '%s' not found", ref.TemplateName))
			}
			*clusterTemplates = append(*clusterTemplates, t.DeepCopy())
			nested = t.Spec.Templates
		} else {
			t, ok := g.templates[key(namespace, ref.TemplateName)]
			if !ok {
				return field.Invalid(fldPath, ref.TemplateName, fmt.Sprintf("AnalysisTemplate '%s' not found", ref.TemplateName))
			}
			*templates = append(*templates, t.DeepCopy())
			nested = t.Spec.Templates
		}
		if nested != nil {
			onPath[id] = true
			err := g.walkRefs(namespace, nested, field.NewPath("spec", "templates"), depth+1, expanded, onPath, templates, clusterTemplates)
			delete(onPath, id)
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func toFieldError(err error) *field.Error {
	if fe, ok := err.(*field.Error); ok {
		return fe
	}
	return field.InternalError(nil, err)
}

// analysisRunErrors is what the analysis controller (reconcileAnalysisRun) would set the run's phase to
// Error for: metrics resolved with the run's args (secrets replaced, as getResolvedMetricsWithoutSecrets
// does), then ValidateMetrics, GetDryRunMetrics and GetMeasurementRetentionMetrics.
func analysisRunErrors(run *v1alpha1.AnalysisRun) error {
	args := make([]v1alpha1.Argument, 0, len(run.Spec.Args))
	for _, a := range run.Spec.Args {
		a := *a.DeepCopy()
		if a.ValueFrom != nil && a.ValueFrom.SecretKeyRef != nil {
			v := "temp-for-secret"
			a.ValueFrom, a.Value = nil, &v
		}
		args = append(args, a)
	}
	metrics := make([]v1alpha1.Metric, 0, len(run.Spec.Metrics))
	for _, m := range run.Spec.Metrics {
		resolved, err := analysisutil.ResolveMetricArgs(m, args)
		if err != nil {
			return fmt.Errorf("unable to resolve metric arguments: %v", err)
		}
		metrics = append(metrics, *resolved)
	}
	if err := analysisutil.ValidateMetrics(metrics); err != nil {
		return fmt.Errorf("analysis spec invalid: %v", err)
	}
	if _, err := analysisutil.GetDryRunMetrics(run.Spec.DryRun, metrics); err != nil {
		return fmt.Errorf("analysis spec invalid: %v", err)
	}
	if _, err := analysisutil.GetMeasurementRetentionMetrics(run.Spec.MeasurementRetention, metrics); err != nil {
		return fmt.Errorf("analysis spec invalid: %v", err)
	}
	return nil
}

// placeholderArgs gives every argument without a value the placeholder upstream validation uses.
func placeholderArgs(args []v1alpha1.Argument) []v1alpha1.Argument {
	out := make([]v1alpha1.Argument, 0, len(args))
	for _, a := range args {
		a := *a.DeepCopy()
		if a.Value == nil && a.ValueFrom == nil {
			v := "dummy-value"
			a.Value = &v
		}
		out = append(out, a)
	}
	return out
}

// templateAlone judges one template as a run made from it alone, with placeholder values for its args.
func templateAlone(templates []*v1alpha1.AnalysisTemplate, clusterTemplates []*v1alpha1.ClusterAnalysisTemplate, args []v1alpha1.Argument) error {
	run, err := analysisutil.NewAnalysisRunFromTemplates(templates, clusterTemplates, placeholderArgs(args), nil, nil, nil, nil, "", "", "")
	if err != nil {
		return err
	}
	run.Spec.Args = placeholderArgs(run.Spec.Args)
	return analysisRunErrors(run)
}

func (g *group) validateTemplates() map[string]bool {
	invalid := map[string]bool{}
	for _, t := range g.templateOrder {
		g.out.Checked["AnalysisTemplate"]++
		g.safely("AnalysisTemplate", t, func() {
			if err := templateAlone([]*v1alpha1.AnalysisTemplate{t.DeepCopy()}, nil, t.Spec.Args); err != nil {
				g.report("AnalysisTemplate", t, "spec.metrics", err.Error(), "analysis.ValidateMetrics")
				invalid["AnalysisTemplate/"+key(t.Namespace, t.Name)] = true
			} else {
				g.templateConditions("AnalysisTemplate", t, t.Spec.DeepCopy())
			}
		})
	}
	for _, t := range g.clusterOrder {
		g.out.Checked["ClusterAnalysisTemplate"]++
		g.safely("ClusterAnalysisTemplate", t, func() {
			if err := templateAlone(nil, []*v1alpha1.ClusterAnalysisTemplate{t.DeepCopy()}, t.Spec.Args); err != nil {
				g.report("ClusterAnalysisTemplate", t, "spec.metrics", err.Error(), "analysis.ValidateMetrics")
				invalid["ClusterAnalysisTemplate/"+t.Name] = true
			} else {
				g.templateConditions("ClusterAnalysisTemplate", t, t.Spec.DeepCopy())
			}
		})
	}
	return invalid
}

func (g *group) validateRollout(ro *v1alpha1.Rollout, invalidTemplates map[string]bool) {
	g.out.Checked["Rollout"]++
	ro = ro.DeepCopy()
	if err := g.resolveWorkloadRef(ro); err != nil {
		g.reportErr("Rollout", ro, err, "rollout.templateref.Resolve")
		return // the controller stops here too: without a template there is nothing to validate
	}
	for _, e := range validation.ValidateRollout(ro.DeepCopy()) {
		g.reportErr("Rollout", ro, e, "validation.ValidateRollout")
	}
	refs, errs := g.references(ro)
	for _, e := range errs {
		g.reportErr("Rollout", ro, e, "rollout.getRolloutReferencedResources")
	}
	// Upstream's reference validation resolves the templates' metrics in place with placeholder args
	// (validateAnalysisMetrics); conditions are judged on copies taken before, with the run's real values.
	pristine := make([]validation.AnalysisTemplatesWithType, len(refs.AnalysisTemplatesWithType))
	for i, set := range refs.AnalysisTemplatesWithType {
		set.AnalysisTemplates, set.ClusterAnalysisTemplates = copyTemplates(set.AnalysisTemplates), copyClusterTemplates(set.ClusterAnalysisTemplates)
		pristine[i] = set
	}
	var refused []string // field paths upstream's reference validation refused
	for _, e := range validation.ValidateRolloutReferencedResources(ro.DeepCopy(), refs) {
		g.reportErr("Rollout", ro, e, "validation.ValidateRolloutReferencedResources")
		refused = append(refused, e.Field)
	}
	// The runs this Rollout would create, judged as the analysis controller judges them. A template
	// that is invalid on its own is reported once, at the template.
	seen := map[string]bool{} // metrics judged with the values this Rollout's runs pass
	stable := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: "stable-hash"}}}
	latest := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{v1alpha1.DefaultRolloutUniqueLabelKey: "latest-hash"}}}
	for i, set := range refs.AnalysisTemplatesWithType {
		skip := false
		for _, t := range set.AnalysisTemplates {
			skip = skip || invalidTemplates["AnalysisTemplate/"+key(t.Namespace, t.Name)]
		}
		for _, t := range set.ClusterAnalysisTemplates {
			skip = skip || invalidTemplates["ClusterAnalysisTemplate/"+t.Name]
		}
		fld := validation.GetAnalysisTemplateWithTypeFieldPath(set.TemplateType, set.CanaryStepIndex)
		if skip || under(refused, fld.String()) { // refused above: the controller marks the Rollout InvalidSpec, no run
			continue
		}
		args, _ := analysisutil.BuildArgumentsForRolloutAnalysisRun(set.Args, stable, latest, ro)
		var dryRun []v1alpha1.DryRun
		var retention []v1alpha1.MeasurementRetention
		if set.TemplateType == validation.InlineAnalysis {
			step := ro.Spec.Strategy.Canary.Steps[set.CanaryStepIndex].Analysis
			dryRun, retention = step.DryRun, step.MeasurementRetention
		} else if set.TemplateType == validation.BackgroundAnalysis {
			dryRun, retention = ro.Spec.Strategy.Canary.Analysis.DryRun, ro.Spec.Strategy.Canary.Analysis.MeasurementRetention
		}
		run, err := analysisutil.NewAnalysisRunFromTemplates(copyTemplates(set.AnalysisTemplates), copyClusterTemplates(set.ClusterAnalysisTemplates), args, dryRun, retention, nil, nil, "", "", "")
		if err == nil {
			err = analysisRunErrors(run)
		}
		if err != nil {
			g.report("Rollout", ro, fld.String(), "the AnalysisRun it creates would end in phase Error: "+err.Error(), "analysis.reconcileAnalysisRun")
			continue
		}
		g.runConditions(ro, fld.String(), pristine[i], args, dryRun, retention, seen)
	}
}

// under says whether one of the field paths is AT or a path below it.
func under(fields []string, at string) bool {
	for _, f := range fields {
		if f == at || strings.HasPrefix(f, at+".") || strings.HasPrefix(f, at+"[") {
			return true
		}
	}
	return false
}

func copyTemplates(in []*v1alpha1.AnalysisTemplate) []*v1alpha1.AnalysisTemplate {
	out := make([]*v1alpha1.AnalysisTemplate, 0, len(in))
	for _, t := range in {
		out = append(out, t.DeepCopy())
	}
	return out
}

func copyClusterTemplates(in []*v1alpha1.ClusterAnalysisTemplate) []*v1alpha1.ClusterAnalysisTemplate {
	out := make([]*v1alpha1.ClusterAnalysisTemplate, 0, len(in))
	for _, t := range in {
		out = append(out, t.DeepCopy())
	}
	return out
}

// Conditions that cannot fail, judged by upstream's evaluator over probe results.
//
// The prometheus provider (metricproviders/prometheus/prometheus.go processResponse) hands
// evaluate.EvaluateResult a []float64 for a vector or matrix (never nil: empty when no series) and a float64
// for a scalar; the datadog provider a float64, or a nil *float64 when there is no data. EvaluateResult
// (utils/evaluate/evaluate.go) decides the measurement's phase: with only a successCondition a false
// success is Failed, with only a failureCondition a false failure is Successful, with both and neither
// true Inconclusive, and an evaluation error is Error. Every phase below is its answer, never ours.

const (
	checkCannotFail  = "evaluate.EvaluateResult" // no probe result is Failed
	checkAlwaysError = "evaluate.EvalCondition"  // every probe result is an Error
	// unknownArg stands for an arg whose value is not known before the run (a secret, or supplied by a
	// Rollout): conditions that contain it are judged where the value is known, or not at all.
	unknownArg = "gitops-check-unknown-arg-value"
)

// baseProbes are the numbers tried for every metric, besides the conditions' own literals.
var baseProbes = []float64{math.Inf(-1), -1e9, -1, 0, 1e-9, 0.5, 1, 1e9, math.Inf(1)}

var quietLog = func() logrus.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return *logrus.NewEntry(l)
}()

type literals func(float64)

func (f literals) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IntegerNode:
		f(float64(n.Value))
	case *ast.FloatNode:
		f(n.Value)
	}
}

// probeNumbers: the base probes, plus every numeric literal x of the conditions (parsed by expr, the
// language upstream evaluates them in) as x, -x and each ± 1e-9·max(1, |x|); sorted, without repeats.
func probeNumbers(conditions ...string) (numbers, found []float64) {
	seen := map[float64]bool{}
	add := func(list *[]float64, x float64) {
		if !seen[x] {
			seen[x] = true
			*list = append(*list, x)
		}
	}
	for _, x := range baseProbes {
		add(&numbers, x)
	}
	lits := map[float64]bool{}
	for _, c := range conditions {
		if c == "" {
			continue
		}
		tree, err := parser.Parse(c)
		if err != nil {
			continue // a condition that does not parse is an Error for every probe
		}
		ast.Walk(&tree.Node, literals(func(x float64) {
			if !lits[x] {
				lits[x] = true
				found = append(found, x)
			}
			eps := 1e-9 * math.Max(1, math.Abs(x))
			for _, y := range []float64{x, -x} {
				add(&numbers, y)
				add(&numbers, y-eps)
				add(&numbers, y+eps)
			}
		}))
	}
	sort.Float64s(numbers)
	sort.Float64s(found)
	return numbers, found
}

// probeResults are the results the metric's provider can hand to EvaluateResult, for the given numbers.
func probeResults(m v1alpha1.Metric, numbers []float64) ([]any, string) {
	var results []any
	switch {
	case m.Provider.Prometheus != nil:
		nan := math.NaN()
		results = append(results, make([]float64, 0), []float64{nan}, []float64{nan, nan}, nan)
		for _, x := range numbers {
			results = append(results, []float64{x}, []float64{x, x}, x)
		}
		return results, "Prometheus results: vectors [], [NaN], [NaN NaN], [x], [x x] and scalars NaN, x"
	case m.Provider.Datadog != nil:
		var none *float64
		results = append(results, none)
		for _, x := range numbers {
			results = append(results, x)
		}
		return results, "Datadog results: no data and x"
	}
	return nil, ""
}

func formatNumbers(xs []float64) string {
	parts := make([]string, 0, len(xs))
	for _, x := range xs {
		s := strconv.FormatFloat(x, 'g', -1, 64)
		if math.IsInf(x, 1) {
			s = "+Inf"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func describeConditions(m v1alpha1.Metric) string {
	text := func(c string) string { return `"` + strings.Join(strings.Fields(c), " ") + `"` }
	switch {
	case m.FailureCondition == "":
		return "successCondition " + text(m.SuccessCondition) + " (no failureCondition: a false success is Failed)"
	case m.SuccessCondition == "":
		return "failureCondition " + text(m.FailureCondition) + " (no successCondition: a false failure is Successful)"
	}
	return "successCondition " + text(m.SuccessCondition) + " and failureCondition " + text(m.FailureCondition)
}

// judgeConditions evaluates a metric (args resolved) over the probes; it returns the finding's check and
// message, or "" when some probe fails the measurement or the metric cannot be judged here.
func judgeConditions(owner string, m v1alpha1.Metric) (string, string) {
	if m.SuccessCondition == "" && m.FailureCondition == "" {
		return "", "" // a metric without conditions is the policies' finding (WH-ANA-001)
	}
	if strings.Contains(m.SuccessCondition+m.FailureCondition, unknownArg) {
		return "", "" // an arg whose value only the run knows
	}
	numbers, found := probeNumbers(m.SuccessCondition, m.FailureCondition)
	results, kinds := probeResults(m, numbers)
	if results == nil {
		return "", "" // a provider whose results are not numbers (web, job, ...): not judged
	}
	counts := map[v1alpha1.AnalysisPhase]int{}
	var firstErr error
	for _, r := range results {
		phase, err := evaluate.EvaluateResult(r, m, quietLog)
		if phase == v1alpha1.AnalysisPhaseFailed {
			return "", ""
		}
		counts[phase]++
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	tried := fmt.Sprintf("%d probes (%s, for x in {%s}", len(results), kinds, formatNumbers(baseProbes))
	if len(found) > 0 {
		tried += fmt.Sprintf(" and the conditions' literals {%s}, negated, each ± 1e-9·max(1,|x|)", formatNumbers(found))
	}
	tried += ")"
	what := fmt.Sprintf("%s metric %q: %s", owner, m.Name, describeConditions(m))
	if counts[v1alpha1.AnalysisPhaseError] == len(results) {
		return checkAlwaysError, fmt.Sprintf("%s is an evaluation error for every one of %s, so every measurement ends in phase Error and the analysis can never succeed (%v)",
			what, tried, firstErr)
	}
	var phases []string
	for _, p := range []v1alpha1.AnalysisPhase{v1alpha1.AnalysisPhaseSuccessful, v1alpha1.AnalysisPhaseInconclusive, v1alpha1.AnalysisPhaseError} {
		if counts[p] > 0 {
			phases = append(phases, fmt.Sprintf("%s %d", p, counts[p]))
		}
	}
	return checkCannotFail, fmt.Sprintf("%s cannot fail the analysis: no Failed measurement for any of %s; phases: %s",
		what, tried, strings.Join(phases, ", "))
}

// knownArgs gives every arg without a value (a secret, or one a Rollout must pass) the unknownArg value.
func knownArgs(args []v1alpha1.Argument) []v1alpha1.Argument {
	out := make([]v1alpha1.Argument, 0, len(args))
	for _, a := range args {
		a := *a.DeepCopy()
		if a.Value == nil {
			v := unknownArg
			a.Value, a.ValueFrom = &v, nil
		}
		out = append(out, a)
	}
	return out
}

func conditionKey(owner string, m *v1alpha1.Metric) string {
	return strings.Join([]string{owner, m.Name, m.SuccessCondition, m.FailureCondition}, "\x00")
}

// templateConditions judges a valid template's metrics with its own arg values.
func (g *group) templateConditions(kind string, t metav1.Object, spec *v1alpha1.AnalysisTemplateSpec) {
	owner := fmt.Sprintf("%s %q", kind, t.GetName())
	args := knownArgs(spec.Args)
	for i, m := range spec.Metrics {
		resolved, err := analysisutil.ResolveMetricArgs(m, args)
		if err != nil {
			continue
		}
		g.judged[conditionKey(owner, resolved)] = true
		if check, msg := judgeConditions(owner, *resolved); check != "" {
			g.report(kind, t, fmt.Sprintf("spec.metrics[%d]", i), msg, check)
		}
	}
}

// runConditions judges the metrics of a run a Rollout creates with the values the run resolves (the
// Rollout's args over the templates' own); a metric already judged with the same conditions at its
// template is not judged again.
func (g *group) runConditions(ro *v1alpha1.Rollout, fld string, set validation.AnalysisTemplatesWithType, args []v1alpha1.Argument,
	dryRun []v1alpha1.DryRun, retention []v1alpha1.MeasurementRetention, seen map[string]bool) {
	run, err := analysisutil.NewAnalysisRunFromTemplates(copyTemplates(set.AnalysisTemplates), copyClusterTemplates(set.ClusterAnalysisTemplates), args, dryRun, retention, nil, nil, "", "", "")
	if err != nil {
		return // reported as analysis.reconcileAnalysisRun
	}
	owners := map[string]string{}
	for _, t := range set.AnalysisTemplates {
		for _, m := range t.Spec.Metrics {
			owners[m.Name] = fmt.Sprintf("AnalysisTemplate %q", t.Name)
		}
	}
	for _, t := range set.ClusterAnalysisTemplates {
		for _, m := range t.Spec.Metrics {
			owners[m.Name] = fmt.Sprintf("ClusterAnalysisTemplate %q", t.Name)
		}
	}
	known := knownArgs(run.Spec.Args)
	for _, m := range run.Spec.Metrics {
		resolved, err := analysisutil.ResolveMetricArgs(m, known)
		if err != nil {
			continue
		}
		k := conditionKey(owners[m.Name], resolved)
		if g.judged[k] || seen[k] {
			continue
		}
		seen[k] = true
		if check, msg := judgeConditions(owners[m.Name], *resolved); check != "" {
			g.report("Rollout", ro, fld, "with the args this Rollout passes, "+msg, check)
		}
	}
}

func run(r io.Reader, w io.Writer) error {
	var in input
	dec := json.NewDecoder(r)
	if err := dec.Decode(&in); err != nil {
		return fmt.Errorf("reading stdin: %v", err)
	}
	out := &output{Checked: map[string]int{"Rollout": 0, "AnalysisTemplate": 0, "ClusterAnalysisTemplate": 0}, Findings: []finding{}}
	for _, gi := range in.Groups {
		g := &group{
			id: gi.ID, out: out,
			services: map[string]*corev1.Service{}, templates: map[string]*v1alpha1.AnalysisTemplate{},
			clusterTemplates: map[string]*v1alpha1.ClusterAnalysisTemplate{}, ingresses: map[string]*ingressutil.Ingress{},
			virtualServices: map[string]*unstructured.Unstructured{}, workloads: map[string]*unstructured.Unstructured{},
			judged: map[string]bool{},
		}
		for _, raw := range gi.Objects {
			g.add(raw)
		}
		invalid := g.validateTemplates()
		for _, ro := range g.rollouts {
			g.safely("Rollout", ro, func() { g.validateRollout(ro, invalid) })
		}
	}
	sort.SliceStable(out.Findings, func(i, j int) bool { return out.Findings[i].Group < out.Findings[j].Group })
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "usage: rollouts-validate < input.json (see the comment at the top of main.go)")
		os.Exit(2)
	}
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "rollouts-validate: "+strings.ReplaceAll(err.Error(), "\n", " "))
		os.Exit(2)
	}
}
