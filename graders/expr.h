// graders/expr.h: the small LaTeX expression language the comparer understands (internal).
// A normalised answer is tokenised and parsed into an arena of nodes. Parsing is recursive descent
// with a hard depth limit (deeper input is "not parsed", never a stack overflow) and runs only on
// answers of at most GRADER_MAX_PARSE bytes. Evaluation is exact over 128-bit rationals where it
// can be (overflow is reported, never wrapped) and numeric over complex doubles otherwise.
#pragma once
#include <complex>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace adabench {

// An exact rational n/d with d > 0 and gcd(n, d) = 1.
struct Rational {
    __int128 n = 0, d = 1;
};
enum ExactStatus { EXACT_OK, EXACT_INEXACT, EXACT_OVERFLOW };

enum NodeKind {
    NODE_NUM,
    NODE_VAR,
    NODE_PI,
    NODE_E,
    NODE_I,
    NODE_INF,
    NODE_ADD,
    NODE_SUB,
    NODE_MUL,
    NODE_DIV,
    NODE_POW,
    NODE_NEG,
    NODE_PM,   // a ± b; the sign comes from the evaluation's ± choice
    NODE_UPM,  // ± a
    NODE_FACT,
    NODE_FUNC,  // text = function name; a = argument; b = base for log_b (or -1)
    NODE_ROOT,  // a = index (or -1 for square root), b = radicand
    NODE_BINOM,
    NODE_ABS,
    NODE_FLOOR,
    NODE_CEIL,
};

struct Node {
    explicit Node(NodeKind k = NODE_NUM) : kind(k) {}
    NodeKind kind;
    int a = -1, b = -1;
    std::string text;          // NUM: canonical digits; VAR: name; FUNC: name
    bool num_exact = false;    // NUM: value fits a Rational
    bool num_precise = true;   // NUM: a double holds it without losing digits
    bool num_decimal = false;  // NUM: written with a decimal point
    Rational q;
    double v = 0;
    int pm_index = -1;  // PM/UPM: which ± this is, in reading order
};

struct Expr {
    std::vector<Node> nodes;
    int root = -1;
    int n_pm = 0;
    bool has_decimal = false;
    int decimal_places = 0;  // most digits after a decimal point in any literal
};

// Parses one expression (no top-level commas, relations or set braces). nullopt when the text is
// outside the language or nests too deeply.
std::optional<Expr> expr_parse(const std::string& text);

// Exact value for one ± choice (bit k of pm_mask set = minus for the k-th ±).
ExactStatus expr_exact(const Expr& e, unsigned pm_mask, Rational* out);

// Numeric value with the named variables bound; false when the value is not trustworthy (non-finite
// intermediate, a literal with more digits than a double holds, an unbound variable).
bool expr_numeric(const Expr& e, unsigned pm_mask, const std::map<std::string, double>& vars,
                  std::complex<double>* out);

void expr_collect_vars(const Expr& e, std::set<std::string>* vars);

// Canonical text of the tree (used for structural comparison and keys).
std::string expr_print(const Expr& e, unsigned pm_mask);

std::string rational_print(const Rational& q);

}  // namespace adabench
