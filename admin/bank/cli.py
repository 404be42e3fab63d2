"""`yikatong bank export|import`: the bank's automated side of the bank files (docs/bank-files.md).

    yikatong bank export BATCH --bank CODE --out FILE [--format xlsx|csv] [--request N] [--actor USER]
    yikatong bank import FILE [--actor USER] [--json]

Both act as an operator account (``--actor``, else ``BANK_CLI_ACTOR``) with that account's role and
scope, through the same services as the pages, so they are audited and refused the same way.
``--bank`` is the bank's name as in the payment plan (未登记开户银行 for cards without one).

Exit codes, like ``yikatong roster check``: 0 done (or, for an import, already imported: nothing
changed); 1 the result file was refused for its content (a line reference, amount, count, total,
checksum or result does not match the export; the row is named); 2 anything else (unreadable or
foreign file, unknown batch, refused role or scope), with a message and nothing changed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select

from admin.bank import service
from admin.bank.files import BankFileError
from admin.batches.service import get_by_code
from admin.actions import WorkflowError
from admin.models import Operator
from core import migrate
from core.config import Config, load_config
from core.db import Database
from core.errors import CommandError
from core.timeutil import today

__all__ = ["CONTENT_ERRORS", "register"]

# A result file refused for its content (exit 1); any other refusal is exit 2.
CONTENT_ERRORS = frozenset({"count_mismatch", "total_mismatch", "checksum_mismatch", "unknown_ref", "duplicate_ref",
                            "amount_mismatch", "id_mismatch", "card_mismatch", "bad_result", "result_conflict",
                            "no_results"})


def register(sub: argparse._SubParsersAction) -> None:
    bank = sub.add_parser("bank", help="代发文件：导出、导入银行处理结果")
    actions = bank.add_subparsers(dest="bank_command", metavar="ACTION")
    export = actions.add_parser("export", help="导出一个代发银行的代发文件（含完整身份证号、卡号，请妥善保管）")
    export.add_argument("batch", help="批次编号")
    export.add_argument("--bank", required=True, help="代发银行名称（卡号未登记银行的用“未登记开户银行”）")
    export.add_argument("--out", required=True, help="写入的文件")
    export.add_argument("--format", choices=("xlsx", "csv"), help="文件格式（默认按 --out 的扩展名，否则 xlsx）")
    export.add_argument("--request", type=int, help="支付申请号（默认：等待处理结果的最新一次）")
    export.add_argument("--actor", help="操作员账号（默认 BANK_CLI_ACTOR）")
    export.set_defaults(handler=_export)
    imp = actions.add_parser("import", help="导入银行返回的处理结果文件（全部核对一致才导入）")
    imp.add_argument("file")
    imp.add_argument("--actor", help="操作员账号（默认 BANK_CLI_ACTOR）")
    imp.add_argument("--json", action="store_true", help="以 JSON 输出结果")
    imp.set_defaults(handler=_import)
    bank.set_defaults(handler=lambda args: (bank.print_help(), 0)[1])


def _database(config: Config) -> Database:
    migrate.upgrade(config.batch_database_url, "batch")
    return Database(config.batch_database_url)


def _operator(session: Any, config: Config, username: str | None) -> Operator:
    name = username or config.bank_cli_actor
    if not name:
        raise CommandError("请用 --actor 指定操作员账号，或设置 BANK_CLI_ACTOR")
    operator = session.execute(select(Operator).where(Operator.username == name)).scalar_one_or_none()
    if operator is None or not operator.active:
        raise CommandError(f"操作员账号 {name} 不存在或已停用")
    return operator


def _export(args: argparse.Namespace) -> int:
    config = load_config()
    fmt = args.format or ("csv" if args.out.lower().endswith(".csv") else "xlsx")
    db = _database(config)
    try:
        with db.session() as session:
            operator = _operator(session, config, args.actor)
            batch = get_by_code(session, args.batch)
            if batch is None:
                raise CommandError(f"找不到批次 {args.batch}")
            try:
                info = service.find_file(session, batch.id, args.bank, args.request)
                exported = service.export_file(session, config, operator, batch.id, file_id=info.id, fmt=fmt,
                                               today=today())
            except WorkflowError as error:
                raise CommandError(error.message) from None
            _write_private(Path(args.out), exported.data)
    finally:
        db.dispose()
    info = exported.info
    print(f"已导出 {info.bank} 的代发文件（支付申请 {info.request_id}，{info.line_count} 笔，{info.total:.2f} 元）到 "
          f"{args.out}。文件含完整身份证号和卡号，请妥善保管，用后删除。")
    return 0


def _write_private(path: Path, data: bytes) -> None:
    """Write the file readable by its owner only (it holds full ID and card numbers)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
    except OSError as exc:
        raise CommandError(f"无法写入文件：{path}（{exc.strerror}）") from None


def _import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise CommandError(f"找不到文件：{args.file}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CommandError(f"无法读取文件：{args.file}（{exc.strerror}）") from None
    config = load_config()
    db = _database(config)
    try:
        with db.session() as session:
            operator = _operator(session, config, args.actor)
            try:
                result = service.import_results(session, config, operator, data, path.name, today())
            except WorkflowError as error:
                raise CommandError(error.message) from None
    except BankFileError as error:
        if args.json:
            print(json.dumps({"ok": False, "error": error.as_dict()}, ensure_ascii=False, indent=2))
        else:
            print(f"错误：结果文件未导入：{error.message}", file=sys.stderr)
        return 1 if error.code in CONTENT_ERRORS else 2
    finally:
        db.dispose()
    if args.json:
        print(json.dumps({"ok": True, **result.as_dict()}, ensure_ascii=False, indent=2, default=str))
    else:
        print(result.message)
    return 0
