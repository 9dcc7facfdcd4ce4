"""The documents (README.md, README_CN.md, docs/*.md) name only files, scripts, modules and options that exist,
link only to what resolves, start with the two commands CI and the quickstart run, and the two READMEs say the
same things (headings, commands, figures). Plain text parsing: no MindSpore needed."""
import ast
import collections
import functools
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
README, README_CN = ROOT / "README.md", ROOT / "README_CN.md"
DOCUMENTS = [README, README_CN, *sorted((ROOT / "docs").glob("*.md"))]

# Folders whose paths the documents must name correctly (the checkout's tracked top-level folders); paths under
# other folders (data/, runs/, /data/imagenet, ...) are the user's or generated.
SOURCE_DIRS = ("src", "scripts", "tests", "benchmarks", "ascend310_infer", "docs", ".ci")
GENERATED = {
    "ascend310_infer/out": "the folder ascend310_infer/build.sh builds the app into",
    "ascend310_infer/out/main": "the app ascend310_infer/build.sh builds",
}
NOT_OURS = {
    "hccl_tools.py": "the model zoo's rank-table tool (linked where it is named)",
    "postprogress.py": "the original README's misspelling of postprocess.py, named as such",
    "mindspore_lite": "a folder inside the MindSpore Lite wheel",
}
MODULES_NOT_OURS = {"pytest", "pip", "venv"}
OPTIONS_NOT_OURS = {
    "key": "the placeholder of usage lines: [--key value ...]",
    "help": "every entry point's argparse --help",
    "device_num": "hccl_tools.py's option (the model zoo's rank-table tool, linked where it is named)",
}
# English heading -> its Chinese heading in README_CN.md (the model zoo's Chinese names where it has them).
HEADINGS = {
    "Inception-v4 for MindSpore": "Inception-v4 for MindSpore",
    "The two commands": "两条命令",
    "Contents": "目录",
    "Inception-v4 description": "InceptionV4描述",
    "Model architecture": "模型架构",
    "Dataset": "数据集",
    "Features": "特性",
    "Mixed precision": "混合精度",
    "What this port adds": "本移植新增的功能",
    "Environment requirements": "环境要求",
    "Quick start": "快速入门",
    "Script description": "脚本说明",
    "Scripts and sample code": "脚本及样例代码",
    "Script parameters": "脚本参数",
    "Training process": "训练过程",
    "Evaluation process": "评估过程",
    "Export process": "导出过程",
    "Inference process": "推理过程",
    "Model description": "模型描述",
    "Performance": "性能",
    "Training performance": "训练性能",
    "Inference performance": "推理性能",
    "Differences from the original": "与原版的差异",
    "Randomness": "随机情况说明",
    "Details": "详细文档",
    "ModelZoo homepage": "ModelZoo主页",
}

FENCE = re.compile(r"^\s*(```+)\s*([\w+-]*)\s*$")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
LINK = re.compile(r"\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
OPTION = re.compile(r"(?<![\w-])--([a-zA-Z][\w-]*)")
MODULE = re.compile(r"\bpython3?\s+-m\s+([\w.]+)")
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
SHELL = {"bash", "sh", "shell", ""}


class Document:
    """A Markdown file split into prose lines and fenced code blocks (language, text)."""

    def __init__(self, path):
        self.path = path
        self.name = str(path.relative_to(ROOT))
        self.prose, self.blocks, self.headings = [], [], []
        fence, lang, body = None, "", []
        for line in path.read_text(encoding="utf-8").splitlines():
            match = FENCE.match(line)
            if fence is None and match:
                fence, lang, body = match.group(1), match.group(2), []
            elif fence is not None and match and match.group(1) == fence and not match.group(2):
                self.blocks.append((lang, "\n".join(body)))
                fence = None
            elif fence is not None:
                body.append(line.strip())
            else:
                self.prose.append(line)
                heading = HEADING.match(line)
                if heading:
                    self.headings.append((len(heading.group(1)), heading.group(2)))
        assert fence is None, f"{self.name}: a code block is not closed"

    def text(self):
        return "\n".join(self.prose + [body for _, body in self.blocks])

    def anchors(self):
        seen = collections.Counter()
        anchors = set()
        for _, title in self.headings:
            slug = github_slug(title)
            anchors.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
            seen[slug] += 1
        return anchors

    def sections(self):
        """[(heading, prose text of the lines up to the next heading)], the text before the first heading first."""
        sections, title, lines = [], None, []
        for line in self.prose:
            heading = HEADING.match(line)
            if heading:
                sections.append((title, "\n".join(lines)))
                title, lines = heading.group(2), []
            else:
                lines.append(line)
        sections.append((title, "\n".join(lines)))
        return sections


def github_slug(title):
    """GitHub's anchor for a heading: the text without Markdown, lower case, letters (any script), digits,
    spaces, '-' and '_' kept, spaces turned into '-'."""
    text = LINK.sub(lambda m: m.group(1), title)
    text = re.sub(r"[`*]", "", text).strip().lower()
    return "".join("-" if ch == " " else ch for ch in text if ch.isalnum() or ch in " -_")


@pytest.fixture(scope="module")
def documents():
    return {doc.name: doc for doc in map(Document, DOCUMENTS)}


def test_documents_exist():
    missing = [str(path) for path in DOCUMENTS if not path.is_file()]
    assert not missing and len(DOCUMENTS) > 2, f"missing documents: {missing}"


def _links(doc):
    for line in doc.prose:
        for match in LINK.finditer(re.sub(r"`[^`]*`", "", line)):
            yield match.group(2)


def test_internal_links_resolve(documents):
    broken = []
    for doc in documents.values():
        for target in _links(doc):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            file = (doc.path.parent / path).resolve() if path else doc.path
            if not file.exists():
                broken.append(f"{doc.name}: link to '{target}': no such file")
            elif anchor and (file.suffix != ".md" or anchor not in Document(file).anchors()):
                broken.append(f"{doc.name}: link to '{target}': no heading with that anchor in {file.name}")
    assert not broken, "\n".join(broken)


def _path_tokens(text):
    """Words of `text` that look like file paths (no placeholders), without quotes, punctuation or KEY= prefix."""
    for word in re.split(r"[\s`'\"()|,;（）：，、；。]+", text):
        word = re.sub(r"^[\w-]*=", "", word.split("#")[0] if ".md#" in word else word)
        word = word.rstrip(".:")
        if not word or re.search(r"[<>…*{}$\[\]]|\.\.\.|^-", word):
            continue
        yield word


def _names_a_missing_path(word):
    first = word.split("/")[0]
    if word in GENERATED or word.rstrip("/") in GENERATED:
        return False
    if first in SOURCE_DIRS and "/" in word:
        return not (ROOT / word).exists()
    if "/" not in word and re.fullmatch(r"[\w.-]+\.(py|sh|md|cc|h)|default_config\w*\.yaml|requirements[\w-]*\.txt",
                                        word):
        return word not in NOT_OURS and word not in _source_file_names()
    return False


@functools.lru_cache(maxsize=None)
def _source_file_names():
    """Names of the files at the top level and in the source folders (a bare name may be any of them)."""
    names = {path.name for path in ROOT.iterdir() if path.is_file()}
    return names | {path.name for folder in SOURCE_DIRS for path in (ROOT / folder).rglob("*") if path.is_file()}


def test_named_files_and_scripts_exist(documents):
    missing = sorted({f"{doc.name}: {word}" for doc in documents.values()
                      for word in _path_tokens(doc.text()) if _names_a_missing_path(word)})
    assert not missing, "documents name files that do not exist:\n" + "\n".join(missing)


def test_named_modules_exist(documents):
    missing = []
    for doc in documents.values():
        for module in MODULE.findall(doc.text()):
            base = ROOT / module.replace(".", "/")
            if module not in MODULES_NOT_OURS and not (base.with_suffix(".py").is_file() or base.is_dir()):
                missing.append(f"{doc.name}: python -m {module}")
    assert not missing, "\n".join(missing)


def _config_keys():
    keys = set()
    for path in ROOT.glob("default_config*.yaml"):
        with open(path, encoding="utf-8") as stream:
            keys |= set(next(yaml.safe_load_all(stream)))
    return keys


def _entry_point_options():
    """Options the project's programs accept: config keys, the original's extra keys, every add_argument of
    its Python files, the C++ app's flags and what the launchers pass on (msrun's, mpirun's and pip's options
    there included)."""
    options = _config_keys() | {"config_path"}
    for path in [*ROOT.glob("*.py"), *(p for d in SOURCE_DIRS for p in (ROOT / d).rglob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
                options |= {arg.value[2:] for arg in node.args
                            if isinstance(arg, ast.Constant) and str(arg.value).startswith("--")}
    original = ast.parse((ROOT / "src/model_utils/config.py").read_text(encoding="utf-8"))
    for node in original.body:
        if isinstance(node, ast.Assign) and node.targets[0].id in ("ALIAS", "UNUSED_KEYS"):
            options |= set(ast.literal_eval(node.value))
    flags = (ROOT / "ascend310_infer/src/flags.cc").read_text(encoding="utf-8")
    options |= set(re.findall(r'name == "(\w+)"', flags)) | {"mindir_path"}
    for script in (ROOT / "scripts").glob("*.sh"):
        code = [line for line in script.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#")]
        options |= set(OPTION.findall("\n".join(code)))
    return options


def test_named_options_exist(documents):
    known = _entry_point_options() | set(OPTIONS_NOT_OURS)
    unknown = sorted({f"{doc.name}: --{option}" for doc in documents.values()
                      for option in OPTION.findall(doc.text()) if option not in known})
    assert not unknown, "documents name options no entry point has:\n" + "\n".join(unknown)


def test_configuration_doc_lists_every_key(documents):
    table = "\n".join(line for line in documents["docs/configuration.md"].prose if line.startswith("|"))
    missing = sorted(key for key in _config_keys() if f"`{key}`" not in table)
    assert not missing, f"docs/configuration.md's tables lack the keys: {', '.join(missing)}"


def _tracked_files():
    run = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=False)
    if run.returncode:
        pytest.skip("not a git checkout")
    return [line for line in run.stdout.splitlines() if (ROOT / line).exists()]


def test_layout_tree_lists_every_file(documents):
    for name in ("README.md", "README_CN.md"):
        tree = next(body for _, body in documents[name].blocks if body.startswith(".\n"))
        listed = {item.strip().rstrip("/") for line in tree.splitlines() if "── " in line
                  for item in line.split("── ", 1)[1].split("#")[0].split(",")}
        wanted = {path.split("/")[0] for path in _tracked_files() if path.split("/")[0] != ".gitignore"}
        wanted |= {path[len("src/"):].split("/")[0] for path in _tracked_files()
                   if path.startswith("src/") and path != "src/__init__.py"}
        listed |= {item.split("/")[0] for item in listed}
        missing = sorted(wanted - listed)
        assert not missing, f"{name}: the layout tree lacks {missing}"


def _commands(block):
    return [line for line in (re.sub(r"\s+#.*", "", line).strip() for line in block.splitlines())
            if line and not line.startswith("#")]


def test_two_commands_are_what_ci_and_the_quickstart_run(documents):
    ci = _commands((ROOT / ".ci/run").read_text(encoding="utf-8"))
    assert ci[-1] == "bash scripts/run_tests.sh"
    assert "scripts/quickstart.sh" in (ROOT / "tests/test_quickstart.py").read_text(encoding="utf-8")
    for name in ("README.md", "README_CN.md"):
        lang, first = documents[name].blocks[0]
        assert _commands(first) == ["bash scripts/quickstart.sh", ci[-1]], f"{name}: first code block"


def _programs(text):
    """The Python programs a shell text runs, in order ('train.py', '-m src.tools.quantize_onnx', ...)."""
    return [m.group(1) or m.group(2) for m in re.finditer(r"\bpython3?\s+(?:(-m\s+[\w.]+)|([\w/]+\.py))", text)]


def test_quickstart_steps_are_the_scripts(documents):
    script = _programs((ROOT / "scripts/quickstart.sh").read_text(encoding="utf-8"))
    for name in ("README.md", "README_CN.md"):
        shown = [_programs(body) for lang, body in documents[name].blocks if "src.tools.make_demo_data" in body]
        assert script in shown, f"{name}: no code block shows the quickstart's steps {script}"


def test_readmes_have_the_same_headings(documents):
    english, chinese = documents["README.md"].headings, documents["README_CN.md"].headings
    unknown = [title for _, title in english if title not in HEADINGS]
    assert not unknown, f"README.md headings without a Chinese pair in HEADINGS (tests/test_docs.py): {unknown}"
    assert [(level, HEADINGS[title]) for level, title in english] == chinese


def test_readmes_have_the_same_commands(documents):
    def commands(doc):
        return [_commands(body) if lang in SHELL else body.splitlines() for lang, body in doc.blocks]
    english, chinese = commands(documents["README.md"]), commands(documents["README_CN.md"])
    assert len(english) == len(chinese), "README.md and README_CN.md have different numbers of code blocks"
    for number, (en, cn) in enumerate(zip(english, chinese), 1):
        assert en == cn, f"code block {number} differs between README.md and README_CN.md"


def _figures(text):
    text = LINK.sub(lambda m: m.group(1), text)
    return set(NUMBER.findall(re.sub(r"\(#[^)]*\)|https?://\S+", "", text)))


def test_readmes_have_the_same_figures(documents):
    english, chinese = documents["README.md"].sections(), documents["README_CN.md"].sections()
    assert len(english) == len(chinese)
    differ = []
    for (title, en), (_, cn) in zip(english, chinese):
        only_en, only_cn = _figures(en) - _figures(cn), _figures(cn) - _figures(en)
        if only_en or only_cn:
            differ.append(f"section '{title}': only in README.md {sorted(only_en)}, only in README_CN.md "
                          f"{sorted(only_cn)}")
    assert not differ, "\n".join(differ)


def test_slug_rules():
    assert github_slug("Training record: metrics.csv and curves.png") == "training-record-metricscsv-and-curvespng"
    assert github_slug("Inference app (`ascend310_infer`)") == "inference-app-ascend310_infer"
    assert github_slug("混合精度（Ascend）") == "混合精度ascend"
    assert github_slug("The original model zoo's configuration files") == "the-original-model-zoos-configuration-files"
