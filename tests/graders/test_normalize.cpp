// graders: normalisation case table (input -> canonical string), numbered.
#include <gtest/gtest.h>

#include "graders/grader.h"

using namespace adabench;

namespace {

struct NormCase {
    int id;
    const char* input;
    const char* expected;
};

const NormCase kNorm[] = {
    {1, "\\frac{1}{2}", "\\frac{1}{2}"},
    {2, "\\dfrac{1}{2}", "\\frac{1}{2}"},
    {3, "\\tfrac12", "\\frac{1}{2}"},
    {4, "\\frac 34", "\\frac{3}{4}"},
    {5, "\\frac9{19}", "\\frac{9}{19}"},
    {6, "\\sqrt2", "\\sqrt{2}"},
    {7, "11\\sqrt2", "11\\sqrt{2}"},
    {8, "10,\\!080", "10080"},
    {9, "11,\\! 111,\\! 111,\\! 100", "11111111100"},
    {10, "10{,}000", "10000"},
    {11, "1,234,567", "1234567"},
    {12, "1,234.5", "1234.5"},
    {13, "\\$32,\\!348", "32348"},
    {14, "\\$18.90", "18.90"},
    {15, "5.4 \\text{ cents}", "5.4"},
    {16, "15\\mbox{ cm}^2", "15"},
    {17, "864 \\mbox{ inches}^2", "864"},
    {18, "\\frac{270}7\\text{ degrees}", "\\frac{270}{7}"},
    {19, "106^\\circ", "106"},
    {20, "120^{\\circ}", "120"},
    {21, "45\xc2\xb0", "45"},
    {22, "50\\%", "50"},
    {23, "12%", "12"},
    {24, "$x = 5$", "5"},
    {25, "x=5", "5"},
    {26, "y = 2x + 3", "2x+3"},
    {27, "x \\in [-2,7]", "[-2,7]"},
    {28, "\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})"},
    {29, "\\text{Evelyn}", "Evelyn"},
    {30, "\\text{(C)}", "C"},
    {31, "(b)", "B"},
    {32, "204_5", "204"},
    {33, "4210_{5}", "4210"},
    {34, "\\boxed{7}", "7"},
    {35, "**7**", "7"},
    {36, "7.", "7"},
    {37, "\\cot x", "\\cot x"},
    {38, "3 \\pm 2 \\sqrt{2}", "3\\pm2\\sqrt{2}"},
    {39, "\\{1\\pm\\sqrt{5},-2\\}", "\\{1\\pm\\sqrt{5},-2\\}"},
    {40, "\\begin{pmatrix} -1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix}-1\\\\2\\end{pmatrix}"},
    {41, "\\displaystyle\\frac{\\pi}{4}", "\\frac{\\pi}{4}"},
    {42, "\xcf\x80/2", "\\pi/2"},
    {43,
     "\xe2\x88\x9a"
     "3",
     "\\sqrt{3}"},
    {44,
     "\xe2\x88\x92"
     "5",
     "-5"},
    {45, "3 and 5", "3,5"},
    {46, "1, 2, and 3", "1,2,3"},
    {47, "5x - 7y + 11z + 4 = 0", "5x-7y+11z+4=0"},
    {48, "\\text{east}", "east"},
    {49, "18 dollars", "18"},
    {50, "12 km/h", "12"},
    {51, "2 \\sqrt{5} \\text{ units}", "2\\sqrt{5}"},
    {52, "3, 5, 7", "3,5,7"},
    {53, "\\[ \\frac{1}{3} \\]", "\\frac{1}{3}"},
    {54, "\\( 2 \\)", "2"},
    {55, "\\mathbf{12}", "12"},
    {56, "\\textbf{(A) } 4", "(A)4"},
    {57, "x^2 \\cdot y", "x^2\\cdot y"},
    {58, "[invalid]", "[invalid]"},
    {59, "", ""},
    {60, "  7  ", "7"},
    {61, "\\frac{\\sqrt3}{2}", "\\frac{\\sqrt{3}}{2}"},
    {62, "\\dbinom{5}{2}", "\\binom{5}{2}"},
    {63, "a \\le b", "a\\leq b"},
    {64, "1,000 and 2,000", "1,000,2,000"},
    {65, "2 x", "2x"},
    {66, "\\left\\{ 1, 2 \\right\\}", "\\{1,2\\}"},
    {67, "\\text{Navin}", "Navin"},
    {68, "\\alpha = 3", "3"},
    {69, "k_1 = 4", "4"},
    {70, "x = 1, y = 2", "x=1,y=2"},
};

TEST(Normalize, CaseTable) {
    for (const auto& c : kNorm) EXPECT_EQ(grader_normalize(c.input), c.expected) << "case " << c.id << ": " << c.input;
}

}  // namespace
