// HTML pages for reports and comparisons (see html.h). The plots are server-side SVG (hover details
// are SVG <title> tooltips, which need no script); the only script renders the sample drill-down
// from an embedded JSON block with textContent, so model text never reaches the HTML parser.
#include "reports/html.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "common/version.h"
#include "reports/html_adaptive.h"

namespace adabench {

using json = nlohmann::json;

namespace {

const char* kPalette[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#8B6D00", "#000000"};
const size_t kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);
const char* kMarkerNames[] = {"circle", "square", "triangle", "diamond", "inverted triangle", "cross"};
const size_t kMarkers = 6;

const char* kStyle = R"CSS(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1200px;padding:0 16px 48px;color:#222}
h1{font-size:24px;margin:20px 0 6px}h2{font-size:20px;border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:32px}
h3{font-size:16px;margin:22px 0 8px}table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right;vertical-align:top}th{background:#f4f4f4}
td.l,th.l{text-align:left}tr.front td{background:#f3f8ff}.meta td{text-align:left;word-break:break-all}.meta code{white-space:pre-wrap}.meta th{text-align:left;width:140px}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}pre{white-space:pre-wrap;word-break:break-word;
background:#f8f8f8;border:1px solid #e4e4e4;padding:6px;margin:2px 0 8px;max-height:320px;overflow:auto}
.legend{background:#fafafa;border:1px solid #e4e4e4;padding:8px 12px;margin:10px 0}.keys span{display:inline-block;margin-right:14px}
.sw{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:4px;vertical-align:-1px}
svg.plot{background:#fff;border:1px solid #e4e4e4}svg .pt{cursor:pointer}svg .pt:hover{stroke:#000;stroke-width:2}
.drill .filters{margin:6px 0}.drill select,.drill input{margin-right:10px}.drill tbody tr.s{cursor:pointer}
.drill tr.s.ok td:nth-child(4){color:#08711a}.drill tr.s.bad td:nth-child(4){color:#b00020}.lbl{font-weight:600;margin-top:4px}
.note{color:#555;font-size:13px}.bad{color:#b00020}.good{color:#08711a}.sig{font-weight:700}
.verdict{font-size:18px;padding:8px 12px;border-radius:4px;display:inline-block}.verdict.bad{background:#fde8eb}.verdict.good{background:#e7f6ea}
.warn{background:#fff4e5;border:1px solid #f0c36d;padding:6px 10px;border-radius:4px}.drill tr.s.failed td:nth-child(4){color:#8a5300}
)CSS";

// The drill-down script: reads the JSON block named by data-src, renders with textContent only.
const char* kScript = R"JS(
(function(){
function el(t,c,x){var e=document.createElement(t);if(c)e.className=c;if(x!==undefined&&x!==null)e.textContent=String(x);return e;}
var drills={};
document.querySelectorAll('.drill').forEach(function(d){
var src=document.getElementById(d.getAttribute('data-src'));if(!src)return;
var data=JSON.parse(src.textContent);
var ps=d.querySelector('.f-point'),vs=d.querySelector('.f-verdict'),q=d.querySelector('.f-text'),body=d.querySelector('tbody'),
info=d.querySelector('.pageinfo'),prev=d.querySelector('.prev'),next=d.querySelector('.next');
var page=0,PAGE=50;
data.point_ids.forEach(function(id){var o=el('option',null,data.points[id]);o.value=String(id);ps.appendChild(o);});
function verdict(s){return s.st!=='ok'?'failed':s.ok?'correct':(s.c?'censored':'wrong');}
function keep(s){
if(ps.value!=='all'&&String(s.p)!==ps.value)return false;
if(vs.value!=='all'&&verdict(s)!==vs.value)return false;
var t=q.value.toLowerCase();
if(t&&[s.q,s.x,s.g,s.pr,s.th,s.an,s.er].join('\n').toLowerCase().indexOf(t)<0)return false;return true;}
function render(){
var rows=data.samples.filter(keep),pages=Math.max(1,Math.ceil(rows.length/PAGE));if(page>=pages)page=pages-1;
body.textContent='';
rows.slice(page*PAGE,(page+1)*PAGE).forEach(function(s){
var tr=el('tr','s '+(s.st!=='ok'?'failed':s.ok?'ok':'bad'));
[data.points[s.p],s.q,s.i,verdict(s),s.x,s.g,s.tt,s.ta].forEach(function(v){tr.appendChild(el('td',null,v));});
var dt=el('tr','detail');dt.hidden=true;var td=el('td');td.colSpan=8;td.style.textAlign='left';
[['prompt',s.pr],['thinking ('+s.tt+' tokens)',s.th],['answer ('+s.ta+' tokens)',s.an]].forEach(function(kv){td.appendChild(el('div','lbl',kv[0]));td.appendChild(el('pre',null,kv[1]));});
if(s.st!=='ok')td.appendChild(el('div','note bad','status '+s.st+': '+s.er+' (not graded; left out of every figure; the same sweep command re-issues it)'));
td.appendChild(el('div','note','extracted (flexible): '+s.xf+' · gold: '+s.g+' · seed '+s.s+' · finish '+s.f+' · forced '+s.fo+' · prompt tokens '+s.tp+(s.te?'':' · token counts estimated (text re-tokenized)')+(s.cut?' · text cut for size':'')));
if(s.ej)td.appendChild(el('div','note','engine: '+s.ej));
dt.appendChild(td);tr.addEventListener('click',function(){dt.hidden=!dt.hidden;});body.appendChild(tr);body.appendChild(dt);});
info.textContent=rows.length+' matching sample(s), page '+(page+1)+' of '+pages;prev.disabled=page===0;next.disabled=page>=pages-1;}
[ps,vs].forEach(function(e){e.addEventListener('change',function(){page=0;render();});});
q.addEventListener('input',function(){page=0;render();});
prev.addEventListener('click',function(){page--;render();});next.addEventListener('click',function(){page++;render();});
drills[d.getAttribute('data-run')]={select:function(pid){ps.value=String(pid);page=0;render();d.scrollIntoView();}};
render();});
document.querySelectorAll('svg .pt[data-run]').forEach(function(g){g.addEventListener('click',function(){
var dd=drills[g.getAttribute('data-run')];if(dd)dd.select(g.getAttribute('data-point'));});});
document.body.setAttribute('data-report-ready','1');
})();
)JS";

struct SvgPoint {
    double x = 0, y = 0, lo = 0, hi = 0;
    std::string colour;
    size_t marker = 0;
    std::string tooltip;
    int64_t run_id = 0, point_id = -1;  // click target (drill-down), -1 = none
    double opacity = 0.9;
};

struct SvgSeries {
    std::vector<SvgPoint> points;
    std::vector<std::pair<double, double>> frontier;  // tokens ascending
    std::string line_colour = "#333";
    std::string dash;  // "" solid
    std::string name;
};

double nice_step(double range, int target) {
    double raw = range / std::max(1, target);
    double mag = std::pow(10.0, std::floor(std::log10(raw)));
    for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
        if (m * mag >= raw) return m * mag;
    return 10 * mag;
}

std::string marker_svg(size_t marker, double x, double y, const std::string& fill) {
    char b[512];
    double r = 5.5;
    switch (marker % kMarkers) {
        case 0:
            std::snprintf(b, sizeof b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\"/>", x, y, r,
                          fill.c_str());
            break;
        case 1:
            std::snprintf(b, sizeof b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>",
                          x - r, y - r, 2 * r, 2 * r, fill.c_str());
            break;
        case 2:
            std::snprintf(b, sizeof b, "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"%s\"/>", x,
                          y - r * 1.2, x - r * 1.1, y + r * 0.8, x + r * 1.1, y + r * 0.8, fill.c_str());
            break;
        case 3:
            std::snprintf(b, sizeof b, "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"%s\"/>", x,
                          y - r * 1.3, x + r, y, x, y + r * 1.3, x - r, y, fill.c_str());
            break;
        case 4:
            std::snprintf(b, sizeof b, "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"%s\"/>", x,
                          y + r * 1.2, x - r * 1.1, y - r * 0.8, x + r * 1.1, y - r * 0.8, fill.c_str());
            break;
        default:
            std::snprintf(b, sizeof b,
                          "<path d=\"M%.1f %.1fL%.1f %.1fM%.1f %.1fL%.1f %.1f\" stroke=\"%s\" stroke-width=\"3\"/>",
                          x - r, y - r, x + r, y + r, x - r, y + r, x + r, y - r, fill.c_str());
            break;
    }
    return b;
}

// One scatter: x = mean total tokens, y = accuracy in [0, 1], CI whiskers, frontier lines. With
// log_x the token axis is log10, bounds on quarter decades (points at 0 tokens cannot be drawn and
// are left out), for budgets that span decades.
std::string svg_scatter(const std::vector<SvgSeries>& series, const std::string& title, bool log_x = false) {
    const double W = 760, H = 430, L = 62, R = 20, T = 18, B = 52;
    double max_x = 1, min_pos = INFINITY;
    for (const auto& s : series)
        for (const auto& p : s.points)
            if (std::isfinite(p.x)) {
                max_x = std::max(max_x, p.x);
                if (p.x > 0) min_pos = std::min(min_pos, p.x);
            }
    log_x = log_x && std::isfinite(min_pos);
    double step = nice_step(max_x * 1.05, 6);
    double x_hi = std::ceil(max_x * 1.05 / step) * step;
    const double d0 = log_x ? std::floor(std::log10(min_pos) * 4) / 4 : 0;
    const double d1 = log_x ? std::max(d0 + 0.25, std::ceil(std::log10(max_x) * 4) / 4) : 0;
    auto drawable = [&](double x) { return std::isfinite(x) && (!log_x || x > 0); };
    auto sx = [&](double x) {
        return log_x ? L + (W - L - R) * (std::log10(x) - d0) / (d1 - d0) : L + (W - L - R) * x / x_hi;
    };
    auto sy = [&](double y) { return T + (H - T - B) * (1 - std::clamp(y, 0.0, 1.0)); };
    std::ostringstream o;
    char b[512];
    o << "<svg class=\"plot frontier-plot\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
      << "\" viewBox=\"0 0 " << W << " " << H << "\" role=\"img\" aria-label=\"" << html_escape(title) << "\">";
    o << "<title>" << html_escape(title) << "</title>";
    // Grid and axes.
    for (int i = 0; i <= 4; ++i) {
        double y = i * 0.25;
        std::snprintf(b, sizeof b,
                      "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/><text x=\"%.1f\" "
                      "y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.2f</text>",
                      L, W - R, sy(y), sy(y), L - 6, sy(y) + 4, y);
        o << b;
    }
    std::vector<double> ticks;  // log: powers of ten, with more mantissas the fewer decades there are
    if (log_x) {
        const std::vector<double> ms = d1 - d0 > 3   ? std::vector<double>{1}
                                       : d1 - d0 > 1 ? std::vector<double>{1, 2, 5}
                                                     : std::vector<double>{1, 1.5, 2, 3, 5, 7};
        for (double e = std::floor(d0); e <= d1; ++e)
            for (double m : ms) {
                const double v = m * std::pow(10.0, e);
                if (std::log10(v) >= d0 - 1e-9 && std::log10(v) <= d1 + 1e-9) ticks.push_back(v);
            }
    } else {
        for (double x = 0; x <= x_hi + 1e-9; x += step) ticks.push_back(x);
    }
    for (double x : ticks) {
        std::snprintf(b, sizeof b,
                      "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/><text x=\"%.1f\" "
                      "y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%g</text>",
                      sx(x), sx(x), T, H - B, sx(x), H - B + 16, x);
        o << b;
    }
    std::snprintf(b, sizeof b,
                  "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#999\"/>", L, T,
                  W - L - R, H - T - B);
    o << b;
    std::snprintf(b, sizeof b,
                  "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\">mean generated tokens per "
                  "sample (thinking + answer)%s</text>",
                  (L + W - R) / 2, H - 12, log_x ? ", log scale" : "");
    o << b;
    std::snprintf(b, sizeof b,
                  "<text transform=\"translate(16 %.1f) rotate(-90)\" font-size=\"12\" text-anchor=\"middle\">accuracy "
                  "(avg@n, 95%% CI)</text>",
                  (T + H - B) / 2);
    o << b;
    // Frontier lines first, so points sit on top.
    for (const auto& s : series) {
        if (s.frontier.empty()) continue;
        o << "<polyline class=\"frontier\" fill=\"none\" stroke=\"" << s.line_colour << "\" stroke-width=\"2\"";
        if (!s.dash.empty()) o << " stroke-dasharray=\"" << s.dash << "\"";
        o << " points=\"";
        for (auto& [x, y] : s.frontier) {
            if (!drawable(x)) continue;
            std::snprintf(b, sizeof b, "%.1f,%.1f ", sx(x), sy(y));
            o << b;
        }
        o << "\"><title>" << html_escape(s.name) << " frontier</title></polyline>";
    }
    for (const auto& s : series)
        for (const auto& p : s.points) {
            if (!drawable(p.x) || !std::isfinite(p.y)) continue;
            double x = sx(p.x);
            o << "<g class=\"pt\" opacity=\"" << p.opacity << "\"";
            if (p.point_id >= 0) o << " data-run=\"" << p.run_id << "\" data-point=\"" << p.point_id << "\"";
            o << "><title>" << html_escape(p.tooltip) << "</title>";
            if (std::isfinite(p.lo) && std::isfinite(p.hi)) {
                std::snprintf(
                    b, sizeof b,
                    "<path d=\"M%.1f %.1fV%.1fM%.1f %.1fH%.1fM%.1f %.1fH%.1f\" stroke=\"%s\" stroke-width=\"1.2\"/>", x,
                    sy(p.lo), sy(p.hi), x - 3, sy(p.lo), x + 3, x - 3, sy(p.hi), x + 3, p.colour.c_str());
                o << b;
            }
            o << marker_svg(p.marker, x, sy(p.y), p.colour) << "</g>";
        }
    o << "</svg>";
    return o.str();
}

std::string point_tooltip(const AnalysisRun& r, const AnalysisPoint& a) {
    const PointRecord& p = a.point;
    std::ostringstream t;
    t << "run " << r.run.id << " · point " << p.point_id << " · " << p.task << "\n";
    t << "budget: " << (p.think_budget < 0 ? std::string("none") : std::to_string(p.think_budget)) << " ("
      << p.mechanism << ")\n";
    t << "coefficients: " << analysis_point_coefs(p)
      << (p.adapters_json.empty() || p.adapters_json == "[]" ? "" : " " + p.adapters_json) << "\n";
    t << "accuracy: " << report_fmt(a.summary.accuracy.estimate) << " [" << report_fmt(a.summary.accuracy.lo) << ", "
      << report_fmt(a.summary.accuracy.hi) << "]\n";
    t << "tokens: " << report_fmt(a.tokens.total.all, 1) << " (thinking " << report_fmt(a.tokens.think.all, 1)
      << ", answer " << report_fmt(a.tokens.answer.all, 1) << ")\n";
    t << "n: " << a.summary.n_problems << " problems, " << a.summary.n_samples << " samples";
    if (a.n_failed > 0) t << " (" << a.n_failed << " failed, not counted)";
    if (a.on_frontier) t << "\non the frontier";
    return t.str();
}

// The run's engine manifest as one compact line (re-serialised when it is valid JSON).
std::string compact_json(const std::string& text) {
    if (text.empty()) return "(none)";
    json j = json::parse(text, nullptr, false);
    return j.is_discarded() ? text : j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string meta_table(const RunRecord& r, int64_t n_samples, int64_t n_failed) {
    std::ostringstream o;
    auto row = [&](const std::string& k, const std::string& v) {
        o << "<tr><th>" << html_escape(k) << "</th><td><code>" << html_escape(v) << "</code></td></tr>";
    };
    o << "<table class=\"meta\">";
    row("status", r.status);
    row("git sha", r.git_sha);
    row("engine", r.engine);
    row("device", r.device);
    row("engine manifest", compact_json(r.engine_json));
    row("host", r.host);
    row("model hash", r.model_hash);
    row("adapters", r.adapters_json);
    row("merges", r.merges_json);
    row("datasets", r.datasets_json);
    row("config hash", r.config_hash);
    row("shards", r.shards.empty() ? "whole grid" : r.shards);
    row("started / finished", r.started_at + " / " + (r.finished_at.empty() ? "(running)" : r.finished_at));
    row("points / samples", std::to_string(r.n_points) + " points, " + std::to_string(n_samples) + " of " +
                                std::to_string(r.n_samples_planned) + " planned samples stored" +
                                (n_failed > 0 ? ", " + std::to_string(n_failed) + " failed (infrastructure)" : ""));
    o << "</table>";
    o << "<details><summary>sweep config</summary><pre>" << html_escape(r.config_json) << "</pre></details>";
    return o.str();
}

const char* kLegend = R"HTML(<details class="legend" open><summary><b>How to read this</b></summary>
<p>Each grid point is one configuration (task, thinking budget, adapter coefficients or merge λ) evaluated on the
same problems. In the scatter, <b>x</b> is the mean number of generated tokens per sample (thinking + answer) and
<b>y</b> is avg@n accuracy (mean over problems of the share of correct samples); the vertical whiskers are 95%
percentile-bootstrap confidence intervals over problems. <b>Colour</b> encodes the coefficients, <b>marker shape</b>
the thinking budget. The <b>line</b> joins the Pareto frontier: points that no other point beats on both accuracy
(higher) and tokens (lower). <b>Dominated area</b> is the area under the frontier's staircase against the reference
point (accuracy 0, tokens = reference); larger is better and is comparable between runs shown together.
Hover a point for its details; click it to filter the sample drill-down.</p>
<p><b>Failed</b> samples (status failed_infra: an external inference server gave up after every retry) are not
answers: they are left out of every figure and counted per point; running the same sweep command again re-issues
them.</p>
<p><b>Censored</b>: thinking never closed (no answer; counted wrong). <b>Within budget</b>: share of samples whose
thinking tokens are at most the thinking budget; <b>rel. dev.</b>: mean |thinking − budget| / budget. pass@k uses
the unbiased estimator; maj@k is majority vote over extracted answers. Every model text on this page is shown as
text, never interpreted.</p></details>)HTML";

}  // namespace

std::string html_escape(const std::string& s) {
    std::string out;
    out.reserve(s.size() + s.size() / 8);
    for (char c : s) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

std::string html_script_json(const json& j) {
    std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
    std::string out;
    out.reserve(s.size() + 64);
    // '<', '>' and '&' only occur inside JSON strings, where the \u form is equivalent.
    for (char c : s) {
        if (c == '<')
            out += "\\u003c";
        else if (c == '>')
            out += "\\u003e";
        else if (c == '&')
            out += "\\u0026";
        else
            out += c;
    }
    return out;
}

json html_samples_json(const Store& store, const AnalysisRun& run, const HtmlOptions& options, int64_t* n_total) {
    json samples = json::array(), points = json::object(), ids = json::array();
    size_t non_empty = 0;  // points with any stored sample, ok or failed
    for (const auto& a : run.points) non_empty += !a.empty() || a.n_failed > 0;
    int64_t per_point = non_empty == 0 ? 0
                                       : std::max<int64_t>(options.max_samples > 0 ? 1 : 0,
                                                           options.max_samples / static_cast<int64_t>(non_empty));
    auto cut = [&](const std::string& s, bool* was_cut) {
        if (s.size() <= options.max_text_chars) return s;
        *was_cut = true;
        size_t n = options.max_text_chars;
        while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // whole UTF-8 characters
        return s.substr(0, n) + "\n[... cut: " + std::to_string(s.size() - n) + " more bytes]";
    };
    for (const auto& a : run.points) {
        points[std::to_string(a.point.point_id)] = a.point.task + " " + analysis_point_label(a.point);
        ids.push_back(a.point.point_id);
        if ((a.empty() && a.n_failed == 0) || per_point == 0) continue;
        SampleFilter f;
        f.run_id = run.run.id;
        f.point_id = a.point.point_id;
        std::vector<SampleRecord> ss = store.list_samples(f);
        std::stable_sort(ss.begin(), ss.end(), [](const SampleRecord& x, const SampleRecord& y) {
            return x.problem_id != y.problem_id ? x.problem_id < y.problem_id : x.sample_index < y.sample_index;
        });
        for (int64_t k = 0; k < per_point && k < static_cast<int64_t>(ss.size()); ++k) {
            const SampleRecord& s = ss[static_cast<size_t>(k)];
            std::string th, an;
            analysis_split_response(s.response_text, s.censored, &th, &an);
            bool was_cut = false;
            json j{{"p", s.point_id},
                   {"q", s.problem_id},
                   {"i", s.sample_index},
                   {"s", s.seed},
                   {"ok", s.correct_strict},
                   {"c", s.censored},
                   {"f", s.finish_reason},
                   {"fo", s.forced},
                   {"tp", s.n_tokens_prompt},
                   {"tt", s.n_tokens_think},
                   {"ta", s.n_tokens_answer},
                   {"x", s.extracted_strict},
                   {"xf", s.extracted_flexible},
                   {"g", s.gold},
                   {"st", s.status},
                   {"er", s.error},
                   {"te", s.token_exact}};
            j["pr"] = cut(s.prompt_text, &was_cut);
            j["th"] = cut(th, &was_cut);
            j["an"] = cut(an, &was_cut);
            j["ej"] = cut(s.engine_json, &was_cut);
            j["cut"] = was_cut;
            samples.push_back(std::move(j));
        }
    }
    if (n_total) *n_total = run.n_samples + run.n_failed;
    return json{{"run", run.run.id}, {"points", points}, {"point_ids", ids}, {"samples", samples}};
}

namespace {

void write_drilldown(std::ostringstream& o, const Store& store, const AnalysisRun& r, const HtmlOptions& options) {
    int64_t total = 0;
    json data = html_samples_json(store, r, options, &total);
    size_t embedded = data["samples"].size();
    std::string id = "samples-" + std::to_string(r.run.id);
    o << "<h3 id=\"drill-" << r.run.id << "\">Samples</h3>";
    o << "<p class=\"note\">" << embedded << " of " << total << " samples embedded";
    if (static_cast<int64_t>(embedded) < total)
        o << " (at most " << options.max_samples
          << " per run, spread evenly over the grid points, first problems by id;"
          << " use <code>--max-samples</code>, <code>adabench export</code> or <code>adabench serve</code> for all)";
    o << ". Texts longer than " << options.max_text_chars
      << " bytes are cut. Click a row for the prompt, thinking and answer.</p>";
    o << "<div class=\"drill\" data-src=\"" << id << "\" data-run=\"" << r.run.id << "\"><div class=\"filters\">"
      << "point <select class=\"f-point\"><option value=\"all\">all points</option></select>"
      << "verdict <select class=\"f-verdict\"><option value=\"all\">all</option><option "
         "value=\"correct\">correct</option>"
      << "<option value=\"wrong\">wrong</option><option value=\"censored\">censored</option>"
      << "<option value=\"failed\">failed</option></select>"
      << "search <input class=\"f-text\" type=\"search\" placeholder=\"problem, answer, text\">"
      << "<button class=\"prev\" type=\"button\">&larr;</button><button class=\"next\" type=\"button\">&rarr;</button> "
      << "<span class=\"pageinfo note\"></span></div>"
      << "<table><thead><tr><th class=\"l\">point</th><th class=\"l\">problem</th><th>sample</th><th "
         "class=\"l\">verdict</th>"
      << "<th class=\"l\">extracted</th><th class=\"l\">gold</th><th>thinking tok</th><th>answer tok</th></tr></thead>"
      << "<tbody></tbody></table></div>";
    o << "<script type=\"application/json\" id=\"" << id << "\">" << html_script_json(data) << "</script>";
}

void write_task(std::ostringstream& o, const AnalysisRun& r, const AnalysisTask& t, const HtmlOptions& options) {
    // Colour by coefficients, marker by budget, both in order of first appearance.
    std::map<std::string, size_t> colour_of, marker_of;
    std::vector<std::string> colours, markers;
    for (size_t i : t.points) {
        const PointRecord& p = r.points[i].point;
        std::string c = analysis_point_coefs(p);
        if (colour_of.emplace(c, colours.size()).second) colours.push_back(c);
        std::string b = p.think_budget < 0 ? "none" : std::to_string(p.think_budget);
        if (marker_of.emplace(b, markers.size()).second) markers.push_back(b);
    }
    SvgSeries s;
    s.name = "run " + std::to_string(r.run.id);
    for (size_t i : t.points) {
        const AnalysisPoint& a = r.points[i];
        if (a.empty()) continue;
        SvgPoint p;
        p.x = a.tokens.total.all;
        p.y = a.summary.accuracy.estimate;
        p.lo = a.summary.accuracy.lo;
        p.hi = a.summary.accuracy.hi;
        p.colour = kPalette[colour_of[analysis_point_coefs(a.point)] % kPaletteSize];
        p.marker = marker_of[a.point.think_budget < 0 ? "none" : std::to_string(a.point.think_budget)];
        p.tooltip = point_tooltip(r, a);
        p.run_id = r.run.id;
        p.point_id = a.point.point_id;
        s.points.push_back(p);
    }
    for (size_t i : t.frontier)
        s.frontier.push_back({r.points[i].tokens.total.all, r.points[i].summary.accuracy.estimate});
    o << "<h3>Task " << html_escape(t.task) << "</h3>";
    o << "<p>Frontier: " << t.frontier.size() << " of " << t.points.size() << " points; dominated area "
      << report_fmt(t.dominated_area, 2) << " (reference: accuracy 0, " << report_fmt(t.reference.tokens, 1)
      << " tokens).</p>";
    o << svg_scatter({s}, "accuracy vs tokens, task " + t.task + ", run " + std::to_string(r.run.id),
                     options.log_tokens);
    o << "<div class=\"keys\"><b>colour = coefficients:</b> ";
    for (size_t k = 0; k < colours.size(); ++k)
        o << "<span><i class=\"sw\" style=\"background:" << kPalette[k % kPaletteSize] << "\"></i>"
          << html_escape(colours[k]) << "</span>";
    o << "<br><b>marker = thinking budget:</b> ";
    for (size_t k = 0; k < markers.size(); ++k)
        o << "<span>" << kMarkerNames[k % kMarkers] << ": " << html_escape(markers[k]) << "</span>";
    o << "</div>";

    o << "<h4>Frontier points</h4><table><tr><th>point</th><th class=\"l\">budget</th><th class=\"l\">coefficients</th>"
         "<th>accuracy</th><th>95% CI</th><th>tokens</th><th>n</th><th>failed</th></tr>";
    for (size_t i : t.frontier) {
        const AnalysisPoint& a = r.points[i];
        o << "<tr><td>" << a.point.point_id << "</td><td class=\"l\">"
          << (a.point.think_budget < 0 ? std::string("none") : std::to_string(a.point.think_budget))
          << "</td><td class=\"l\">" << html_escape(analysis_point_coefs(a.point)) << "</td><td>"
          << report_fmt(a.summary.accuracy.estimate) << "</td><td>[" << report_fmt(a.summary.accuracy.lo) << ", "
          << report_fmt(a.summary.accuracy.hi) << "]</td><td>" << report_fmt(a.tokens.total.all, 1) << "</td><td>"
          << a.summary.n_samples << "</td><td>" << a.n_failed << "</td></tr>";
    }
    o << "</table>";

    std::set<size_t> pk, mk;
    for (size_t i : t.points) {
        for (auto& kv : r.points[i].summary.pass_at_k) pk.insert(kv.first);
        for (auto& kv : r.points[i].summary.maj_at_k) mk.insert(kv.first);
    }
    o << "<h4>All points</h4><table><tr><th>point</th><th class=\"l\">label</th><th>problems</th><th>samples</th>"
         "<th>failed</th><th>accuracy</th><th>95% CI</th>";
    for (size_t k : pk) o << "<th>pass@" << k << "</th>";
    for (size_t k : mk) o << "<th>maj@" << (k == 0 ? std::string("all") : std::to_string(k)) << "</th>";
    o << "<th>thinking tok</th><th>answer tok</th><th>total tok</th><th>total tok (correct)</th><th>total tok "
         "(wrong)</th>"
         "<th>censored</th><th>within budget</th><th>rel. dev.</th><th>frontier</th></tr>";
    for (size_t i : t.points) {
        const AnalysisPoint& a = r.points[i];
        o << "<tr" << (a.on_frontier ? " class=\"front\"" : "") << "><td>" << a.point.point_id
          << "</td><td class=\"l\">" << html_escape(analysis_point_label(a.point)) << "</td><td>"
          << a.summary.n_problems << "</td><td>" << a.summary.n_samples << "</td><td"
          << (a.n_failed > 0 ? " class=\"bad\"" : "") << ">" << a.n_failed << "</td>";
        if (a.empty()) {
            o << "<td colspan=\"" << 11 + pk.size() + mk.size() << "\" class=\"l note\">"
              << (a.n_failed > 0 ? "no ok samples yet (only failed ones)" : "no samples yet") << "</td></tr>";
            continue;
        }
        o << "<td>" << report_fmt(a.summary.accuracy.estimate) << "</td><td>[" << report_fmt(a.summary.accuracy.lo)
          << ", " << report_fmt(a.summary.accuracy.hi) << "]</td>";
        for (size_t k : pk) {
            auto it = a.summary.pass_at_k.find(k);
            o << "<td>" << (it == a.summary.pass_at_k.end() ? "-" : report_fmt(it->second)) << "</td>";
        }
        for (size_t k : mk) {
            auto it = a.summary.maj_at_k.find(k);
            o << "<td>" << (it == a.summary.maj_at_k.end() ? "-" : report_fmt(it->second)) << "</td>";
        }
        o << "<td>" << report_fmt(a.tokens.think.all, 1) << "</td><td>" << report_fmt(a.tokens.answer.all, 1)
          << "</td><td>" << report_fmt(a.tokens.total.all, 1) << "</td><td>" << report_fmt(a.tokens.total.correct, 1)
          << "</td><td>" << report_fmt(a.tokens.total.incorrect, 1) << "</td><td>"
          << report_fmt(a.summary.censored_rate) << "</td><td>"
          << (a.compliance ? report_fmt(a.compliance->share_within) : "-") << "</td><td>"
          << (a.compliance ? report_fmt(a.compliance->mean_relative_deviation) : "-") << "</td><td>"
          << (a.on_frontier ? "yes" : "") << "</td></tr>";
    }
    o << "</table>";
}

// Searched (adabench search) and calibrated (adabench calibrate) points over the grid's frontier:
// per task, every point of every run shown, grouped by the method that produced it
// (analysis_point_method), one marker and frontier per method, and each frontier's hypervolume
// against one stated reference point. Written only where a task has points of two or more methods.
void write_methods(std::ostringstream& o, const std::vector<AnalysisRun>& runs) {
    std::vector<std::string> task_order;
    for (const auto& r : runs)
        for (const auto& t : r.tasks)
            if (std::find(task_order.begin(), task_order.end(), t.task) == task_order.end())
                task_order.push_back(t.task);
    for (const std::string& task : task_order) {
        std::vector<std::string> methods;  // "grid" first, then in order of appearance
        std::map<std::string, std::vector<std::pair<const AnalysisRun*, const AnalysisPoint*>>> by_method;
        double ref_tokens = 0;
        for (const auto& r : runs)
            for (const auto& t : r.tasks) {
                if (t.task != task) continue;
                if (ref_tokens <= 0) ref_tokens = t.reference.tokens;
                for (size_t i : t.points) {
                    const AnalysisPoint& a = r.points[i];
                    if (a.empty()) continue;
                    const std::string m = analysis_point_method(a.point);
                    if (!by_method.count(m)) methods.push_back(m);
                    by_method[m].push_back({&r, &a});
                }
            }
        if (methods.size() < 2) continue;
        std::stable_partition(methods.begin(), methods.end(), [](const std::string& m) { return m == "grid"; });
        const ParetoPoint reference{0.0, ref_tokens};
        std::vector<SvgSeries> series;
        std::ostringstream rows;
        for (size_t k = 0; k < methods.size(); ++k) {
            const auto& pts = by_method[methods[k]];
            SvgSeries s;
            s.name = methods[k];
            s.line_colour = kPalette[k % kPaletteSize];
            s.dash = k == 0 ? "" : "6 3";
            std::vector<ParetoPoint> pp;
            for (const auto& [r, a] : pts) {
                SvgPoint p;
                p.x = a->tokens.total.all;
                p.y = a->summary.accuracy.estimate;
                p.lo = a->summary.accuracy.lo;
                p.hi = a->summary.accuracy.hi;
                p.colour = kPalette[k % kPaletteSize];
                p.marker = k;
                p.tooltip = methods[k] + " · " + point_tooltip(*r, *a);
                p.run_id = r->run.id;
                p.point_id = a->point.point_id;
                p.opacity = 0.75;
                s.points.push_back(p);
                pp.push_back({p.y, p.x});
            }
            const auto front = metrics_pareto_frontier(pp);
            for (size_t i : front) s.frontier.push_back({pp[i].tokens, pp[i].accuracy});
            const double hv = metrics_hypervolume(pp, reference);
            rows << "<tr class=\"method\" data-method=\"" << html_escape(methods[k]) << "\"><td class=\"l\">"
                 << kMarkerNames[k % kMarkers] << " <i class=\"sw\" style=\"background:" << kPalette[k % kPaletteSize]
                 << "\"></i> " << html_escape(methods[k]) << "</td><td>" << pts.size() << "</td><td>" << front.size()
                 << "</td><td class=\"hv\">" << report_fmt(hv, 2) << "</td><td>"
                 << report_fmt(ref_tokens > 0 ? hv / ref_tokens : 0.0, 4) << "</td></tr>";
            series.push_back(std::move(s));
        }
        o << "<section class=\"methods\"><h3>Methods compared, task " << html_escape(task) << "</h3>";
        o << "<p>Points of every run shown, by the method that produced them (<b>grid</b>: sweep grid points; "
             "<b>nsga2</b> / <b>cmaes</b>: adabench search; <b>calibrated</b>: adabench calibrate; "
             "<b>reference</b>: the search's upper-bound configuration), each with its own frontier. "
             "Hypervolume: the area each frontier dominates against the reference point (accuracy 0, "
          << report_fmt(ref_tokens, 1)
          << " tokens); the last column divides it by the reference tokens (accuracy × tokens/reference).</p>";
        o << svg_scatter(series, "methods compared, task " + task);
        o << "<table><tr><th class=\"l\">method</th><th>points</th><th>frontier</th><th>hypervolume</th>"
             "<th>hypervolume / ref tokens</th></tr>"
          << rows.str() << "</table></section>";
    }
}

std::string page_head(const std::string& title) {
    return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
           "content=\"width=device-width,initial-scale=1\"><title>" +
           html_escape(title) + "</title><style>" + kStyle + "</style></head><body>";
}

std::string page_tail() {
    return std::string("<p class=\"note\">generated by adabench ") +
           html_escape(version_string() + " (git " + version_git_sha() + ")") + "</p><script>" + kScript +
           "</script></body></html>\n";
}

}  // namespace

std::string html_report(const Store& store, const std::vector<AnalysisRun>& runs, const HtmlOptions& options) {
    std::ostringstream o;
    std::string ids;
    for (const auto& r : runs) ids += (ids.empty() ? "" : ", ") + std::to_string(r.run.id);
    o << page_head("adabench report: run " + ids);
    if (!options.link_prefix.empty())
        o << "<p><a href=\"" << html_escape(options.link_prefix) << "/\">&larr; all runs</a></p>";
    o << "<h1>adabench report</h1><p class=\"note\">database <code>" << html_escape(store.path()) << "</code>, run(s) "
      << ids << "</p>" << kLegend;
    write_methods(o, runs);
    for (const auto& r : runs) {
        o << "<section id=\"run-" << r.run.id << "\"><h2>Run " << r.run.id << "</h2>";
        o << meta_table(r.run, r.n_samples, r.n_failed);
        if (r.n_failed > 0) {
            size_t n_points = 0;
            for (const auto& a : r.points) n_points += a.n_failed > 0;
            o << "<p class=\"warn failed-warning\"><b>Warning:</b> " << r.n_failed
              << " sample(s) failed (infrastructure: the inference server gave up after every retry) at " << n_points
              << " grid point(s). They are left out of every figure on this page (see the <b>failed</b> column); "
                 "running the same sweep command again re-issues them.</p>";
        }
        if (r.points.empty()) o << "<p class=\"note\">This run has no grid points.</p>";
        for (const AnalysisTask& t : r.tasks) write_task(o, r, t, options);
        o << html_adaptive_section(store, r.run.id);  // routers, parallel sampling, difficulty (#19)
        write_drilldown(o, store, r, options);
        o << "</section>";
    }
    o << page_tail();
    return o.str();
}

void HtmlReporter::report(const std::vector<AnalysisRun>& runs, std::ostream& out) {
    out << html_report(store_, runs, options_);
}

std::string html_compare(const CompareResult& c, const NightlyVerdict* gate, const HtmlOptions& options) {
    std::ostringstream o;
    std::string title =
        "adabench compare: run " + std::to_string(c.base.run.id) + " vs run " + std::to_string(c.new_run.run.id);
    o << page_head(title);
    if (!options.link_prefix.empty())
        o << "<p><a href=\"" << html_escape(options.link_prefix) << "/\">&larr; all runs</a></p>";
    o << "<h1>" << html_escape(title) << "</h1>";
    if (c.base.n_failed > 0 || c.new_run.n_failed > 0)
        o << "<p class=\"warn failed-warning\"><b>Warning:</b> failed samples (infrastructure) are left out of every "
             "figure and pair: "
          << c.base.n_failed << " in base run " << c.base.run.id << ", " << c.new_run.n_failed << " in new run "
          << c.new_run.run.id << ".</p>";
    if (gate) {
        o << "<p class=\"verdict " << (gate->regression ? "bad\">REGRESSION" : "good\">no significant regression")
          << "</p>";
        if (!gate->failures.empty()) {
            o << "<ul>";
            for (const auto& f : gate->failures) o << "<li class=\"bad\">" << html_escape(f) << "</li>";
            o << "</ul>";
        }
    }
    o << "<details class=\"legend\" open><summary><b>How to read this</b></summary><p>Grid points of the two runs are "
         "matched "
         "by task, budget, mechanism and coefficients (or merge λ). Base points are grey with a dashed frontier; new "
         "points "
         "are coloured with a solid frontier. Per matched point, samples are paired by problem and sample index (the "
         "seeds "
         "derive from them); <b>p</b> is the smaller of the exact two-sided McNemar test over paired samples and a "
         "paired "
         "bootstrap over per-problem accuracy. Rows with p &lt; "
      << report_fmt(c.alpha, 3) << " are marked significant.</p></details>";
    o << "<h2>Summary</h2><pre>" << html_escape(compare_summary_text(c)) << "</pre>";
    std::set<std::string> task_names;
    for (const auto& t : c.tasks) task_names.insert(t.task);
    for (const CompareTask& ct : c.tasks) {
        std::vector<SvgSeries> series(2);
        const AnalysisRun* runs[2] = {&c.base, &c.new_run};
        for (int k = 0; k < 2; ++k) {
            const AnalysisRun& r = *runs[k];
            SvgSeries& s = series[k];
            s.name = (k == 0 ? "base run " : "new run ") + std::to_string(r.run.id);
            s.line_colour = k == 0 ? "#777" : "#D55E00";
            s.dash = k == 0 ? "6 4" : "";
            for (const AnalysisTask& t : r.tasks) {
                if (t.task != ct.task) continue;
                for (size_t i : t.points) {
                    const AnalysisPoint& a = r.points[i];
                    if (a.empty()) continue;
                    SvgPoint p;
                    p.x = a.tokens.total.all;
                    p.y = a.summary.accuracy.estimate;
                    p.lo = a.summary.accuracy.lo;
                    p.hi = a.summary.accuracy.hi;
                    p.colour = k == 0 ? "#888" : "#D55E00";
                    p.marker = k == 0 ? 0 : 1;
                    p.opacity = k == 0 ? 0.6 : 0.9;
                    p.tooltip = s.name + "\n" + point_tooltip(r, a);
                    s.points.push_back(p);
                }
                for (size_t i : t.frontier)
                    s.frontier.push_back({r.points[i].tokens.total.all, r.points[i].summary.accuracy.estimate});
            }
        }
        o << "<h2>Task " << html_escape(ct.task) << "</h2><p>Dominated area: base " << report_fmt(ct.area_base, 2)
          << ", new " << report_fmt(ct.area_new, 2) << " (reference tokens " << report_fmt(ct.reference_tokens, 1)
          << ").</p>";
        o << svg_scatter(series, "frontiers, task " + ct.task);
        o << "<div class=\"keys\"><span><i class=\"sw\" style=\"background:#888\"></i>base run " << c.base.run.id
          << " (circles, dashed frontier)</span><span><i class=\"sw\" style=\"background:#D55E00\"></i>new run "
          << c.new_run.run.id << " (squares, solid frontier)</span></div>";
        o << "<table><tr><th class=\"l\">point</th><th>acc base</th><th>acc new</th><th>Δ acc</th><th>paired CI of "
             "Δ</th>"
             "<th>pairs</th><th>same seed</th><th>McNemar (new/base only)</th><th>p</th><th>tokens base</th><th>tokens "
             "new</th><th>Δ tokens</th></tr>";
        for (const PointDelta& d : c.deltas) {
            if (d.task != ct.task) continue;
            std::string cls = d.significant ? (d.delta_acc < 0 ? " class=\"bad sig\"" : " class=\"good sig\"") : "";
            o << "<tr" << cls << "><td class=\"l\">" << html_escape(d.label) << "</td><td>" << report_fmt(d.acc_base)
              << "</td><td>" << report_fmt(d.acc_new) << "</td><td>" << (d.delta_acc >= 0 ? "+" : "")
              << report_fmt(d.delta_acc) << "</td><td>";
            if (d.bootstrap)
                o << "[" << report_fmt(d.bootstrap->lo) << ", " << report_fmt(d.bootstrap->hi) << "]";
            else
                o << "-";
            o << "</td><td>" << d.n_pairs << "</td><td>" << d.n_same_seed << "</td><td>" << d.mcnemar.n_a_only << " / "
              << d.mcnemar.n_b_only << "</td><td>" << report_fmt(d.p_value, 4) << (d.significant ? " *" : "")
              << "</td><td>" << report_fmt(d.tokens_base, 1) << "</td><td>" << report_fmt(d.tokens_new, 1)
              << "</td><td>" << (d.delta_tokens_rel >= 0 ? "+" : "") << report_fmt(100 * d.delta_tokens_rel, 1)
              << "%</td></tr>";
        }
        o << "</table>";
    }
    if (!c.only_base.empty() || !c.only_new.empty()) {
        o << "<h2>Unmatched points</h2><p>Only in base:</p><ul>";
        for (const auto& s : c.only_base) o << "<li>" << html_escape(s) << "</li>";
        o << "</ul><p>Only in new:</p><ul>";
        for (const auto& s : c.only_new) o << "<li>" << html_escape(s) << "</li>";
        o << "</ul>";
    }
    o << "<h2>Runs</h2><h3>Base run " << c.base.run.id << "</h3>"
      << meta_table(c.base.run, c.base.n_samples, c.base.n_failed);
    o << "<h3>New run " << c.new_run.run.id << "</h3>"
      << meta_table(c.new_run.run, c.new_run.n_samples, c.new_run.n_failed);
    o << page_tail();
    return o.str();
}

}  // namespace adabench
