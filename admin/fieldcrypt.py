"""Encryption at rest of ID, card and phone numbers in the batch database (Fernet)."""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken


class FieldCipher:
    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.encode() if isinstance(key, str) else key)
        except (ValueError, TypeError) as exc:
            raise ValueError("YIKATONG_FIELD_KEY 不是有效的 Fernet 密钥（32 字节 urlsafe base64）") from exc

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken as exc:
            raise ValueError("无法解密字段：密钥不匹配或数据已损坏") from exc


@lru_cache(maxsize=4)
def cipher(key: str) -> FieldCipher:
    return FieldCipher(key)
