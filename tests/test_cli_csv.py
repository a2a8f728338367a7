"""``ntkfast`` on CSV files: the csv module's quoting, and messages that name the file's line
(1-based, header and comments counted, as an editor shows it) and the column."""
import numpy as np
import pytest

from ntkfast.cli import main
from ntkfast.io import load_model

from test_cli import _assert_clean_error, _run


def _fit(capsys, tmp_path, text, *extra, target="y"):
    path = tmp_path / "d.csv"
    path.write_text(text)
    return _run(capsys, "fit", "--data", path, "--target", target, "--n-components", 64,
                "--model", tmp_path / "m.npz", "-q", *extra)


def _rows(n, seed=0):
    rng = np.random.default_rng(seed)
    return [(f"{a:.6f}", f"{b:.6f}", f"{a - b:.6f}") for a, b in rng.standard_normal((n, 2))]


def _text(header, rows):
    return "".join(",".join(r) + "\n" for r in ([header] if header else []) + rows)


@pytest.mark.parametrize("bad, line, column, what", [
    ("nan", 4, "'b'", "NaN or infinity"),
    ("inf", 6, "'a'", "NaN or infinity"),
    ("", 6, "'y'", "empty field"),
    ("cat", 3, "'b'", "expected a number, got 'cat'"),
])
def test_messages_name_the_file_line_and_column(tmp_path, capsys, bad, line, column, what):
    rows = _rows(8)
    j = {"'a'": 0, "'b'": 1, "'y'": 2}[column]
    rows[line - 2] = tuple(bad if k == j else v for k, v in enumerate(rows[line - 2]))
    code, _, err = _fit(capsys, tmp_path, _text(("a", "b", "y"), rows))
    _assert_clean_error(code, err, f"d.csv: line {line}, column {column}: {what}")


def test_line_numbers_count_comments_blank_lines_and_quoted_line_breaks(tmp_path, capsys):
    text = ("# a comment before the header\n"        # line 1
            "a,\"the\nb\",y\n"                       # lines 2-3: a header field with a line break
            "1,2,3\n"                                # line 4
            "\n"                                     # line 5: empty, skipped
            "# 1,2,3 a row commented out\n"          # line 6
            "4,5,6\n"                                # line 7
            "7,x,9\n")                               # line 8
    code, _, err = _fit(capsys, tmp_path, text)
    _assert_clean_error(code, err, "line 8, column 'the\\nb': expected a number, got 'x'")


def test_comment_lines_are_skipped_and_reported(tmp_path, capsys):
    rows = _rows(60)
    text = "# exported 2026-01-01\n" + _text(("a", "b", "y"), rows[:30]) + "#" + ",".join(rows[30]) + "\n" \
        + "".join(",".join(r) + "\n" for r in rows[31:])
    path = tmp_path / "d.csv"
    path.write_text(text)
    code, _, err = _run(capsys, "fit", "--data", path, "--target", "y", "--n-components", 64,
                        "--model", tmp_path / "m.npz")
    assert code == 0, err
    assert "59 rows x 3 columns" in err and "2 comment line(s) skipped" in err
    # A '#' that is not the first character of a line is data, and not a number.
    path.write_text(_text(("a", "b", "y"), rows[:3]) + " #1,2,3\n")
    code, _, err = _run(capsys, "fit", "--data", path, "--target", "y", "--model", tmp_path / "m.npz", "-q")
    _assert_clean_error(code, err, "line 5, column 'a': expected a number, got '#1'")


def test_quoted_fields(tmp_path, capsys):
    rows = _rows(40)
    # Quoted numbers and a quoted header name holding a comma.
    text = 'a,"b, in m",y\n' + "".join(f'{a},"{b}",{y}\n' for a, b, y in rows)
    code, _, err = _fit(capsys, tmp_path, text, "--no-standardize")
    assert code == 0, err
    assert load_model(tmp_path / "m.npz", return_metadata=True)[1]["columns"] == ["a", "b, in m"]
    # A quoted field with a comma in a numeric column is one field, and not a number.
    text = 'a,b,y\n1,"2,5",3\n'
    code, _, err = _fit(capsys, tmp_path, text)
    _assert_clean_error(code, err, "line 2, column 'b': expected a number, got '2,5'")


def test_quoted_labels_with_commas(tmp_path, capsys):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((80, 2))
    labels = np.where(X[:, 0] > 0, "yes, sure", 'no "way"')
    path = tmp_path / "d.csv"
    with open(path, "w", newline="") as f:
        import csv
        w = csv.writer(f)
        w.writerow(["x1", "x2", "label"])
        w.writerows([(a, b, c) for (a, b), c in zip(X, labels)])
    code, _, err = _run(capsys, "fit", "--data", path, "--target", "label", "--task", "classification",
                        "--n-components", 64, "--model", tmp_path / "m.npz", "-q")
    assert code == 0, err
    code, out, err = _run(capsys, "predict", "--model", tmp_path / "m.npz", "--data", path,
                          "--out", tmp_path / "p.csv", "-q")
    assert code == 0, err
    with open(tmp_path / "p.csv", newline="") as f:
        got = [r[0] for r in csv.reader(f)]
    assert got[0] == "label" and set(got[1:]) <= {"yes, sure", 'no "way"'}
    assert np.mean(np.array(got[1:]) == labels) > 0.9


@pytest.mark.parametrize("extra, line, expected, got", [("1.0", 4, 3, 4), (None, 5, 3, 2)])
def test_rows_with_another_field_count_are_refused(tmp_path, capsys, extra, line, expected, got):
    rows = [list(r) for r in _rows(6)]
    if extra is None:
        rows[line - 2] = rows[line - 2][:2]
    else:
        rows[line - 2].append(extra)
    code, _, err = _fit(capsys, tmp_path, _text(("a", "b", "y"), rows))
    _assert_clean_error(code, err, f"line {line}: expected {expected} fields (as on line 1), got {got}")


def test_header_only_and_empty_files(tmp_path, capsys):
    code, _, err = _fit(capsys, tmp_path, "a,b,y\n")
    _assert_clean_error(code, err, "d.csv: no data rows (only a header on line 1)")
    assert "Warning" not in err
    code, _, err = _fit(capsys, tmp_path, "# only a comment\n\n")
    _assert_clean_error(code, err, "d.csv: empty file")


def test_no_header_numbers_columns_by_index(tmp_path, capsys):
    rows = _rows(5)
    rows[2] = (rows[2][0], "oops", rows[2][2])
    code, _, err = _fit(capsys, tmp_path, _text(None, rows), target=2)
    _assert_clean_error(code, err, "line 3, column index 1: expected a number, got 'oops'")


def test_duplicate_header_names(tmp_path, capsys):
    code, _, err = _fit(capsys, tmp_path, "a,a,y\n1,2,3\n")
    _assert_clean_error(code, err, "line 1: duplicate column name(s) 'a'")


def test_not_utf8(tmp_path, capsys):
    path = tmp_path / "d.csv"
    path.write_bytes(b"a,b,y\n1,2,3\n\xff\xfe,1,2\n")
    code, _, err = _run(capsys, "fit", "--data", path, "--target", "y", "--model", tmp_path / "m.npz", "-q")
    _assert_clean_error(code, err, "line 3: not UTF-8")


def test_predict_messages_name_lines_too(tmp_path, capsys):
    rows = _rows(30)
    _fit(capsys, tmp_path, _text(("a", "b", "y"), rows))
    test = tmp_path / "test.csv"
    test.write_text("b,a\n# comment\n1,2\n3,nan\n")
    code, _, err = _run(capsys, "predict", "--model", tmp_path / "m.npz", "--data", test, "-q")
    _assert_clean_error(code, err, "test.csv: line 4, column 'a': NaN or infinity")


def test_help_documents_the_csv_rules(capsys):
    for cmd in ("fit", "predict"):
        code, out, _ = _run(capsys, cmd, "--help")
        assert code == 0
        text = " ".join(out.split())
        assert "lines starting with '#' are comments" in text
        assert "1-based, as an editor shows it" in text
