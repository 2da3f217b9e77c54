# -*- coding: utf-8 -*-
# Copyright (c) hpcdl.gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small bar-chart writer for the controller: RGB pixels, a bitmap font, PNG out.

Standard library only (zlib, struct), so that the gpu_bench report draws its chart on any
controller without matplotlib. The same input gives the same bytes (no timestamps, fixed zlib
level), so a report that has not changed is not rewritten.

The font is the X11 "misc-fixed" 6x10 (font-misc-misc, ASCII 32..126), which its authors put in
the public domain ("Public domain font. Share and enjoy."); each glyph is ten rows of six bits,
two hex digits a row, converted from Debian's xfonts-base 6x10-ISO8859-1.pcf.gz.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct
import zlib

GLYPH_W, GLYPH_H = 6, 10
_FONT = (
    "0000000000000000000000080808080800080000001414140000000000000014143e143e1414000000081c281c0a1c080000"
    "00122a1408142a24000000102828102a241a0000000808080000000000000004081010100804000000100804040408100000"
    "000022143e1422000000000008083e08080000000000000000000c081000000000003e0000000000000000000000081c0800"
    "0002020408102020000000081422222214080000000818280808083e0000001c22020c10203e0000003e02040c02221c0000"
    "00040c14243e04040000003e202c3202221c0000000c10202c32221c0000003e0204040810100000001c22221c22221c0000"
    "001c22261a02041800000000081c0800081c08000000081c08000c081000000204081008040200000000003e003e00000000"
    "00100804020408100000001c2204080800080000001c22262a2c201c000000081422223e22220000003c12121c12123c0000"
    "001c22202020221c0000003c12121212123c0000003e20203c20203e0000003e20203c2020200000001c22202026221c0000"
    "002222223e2222220000001c08080808081c0000000e040404042418000000222428302824220000002020202020203e0000"
    "002222362a2222220000002222322a2622220000001c22222222221c0000003c22223c2020200000001c222222222a1c0200"
    "003c22223c2824220000001c22201c02221c0000003e0808080808080000002222222222221c000000222222141414080000"
    "002222222a2a362200000022221408142222000000222214080808080000003e02040810203e0000001c10101010101c0000"
    "00202010080402020000001c04040404041c00000008142200000000000000000000000000003e0008040000000000000000"
    "0000001c021e221e00000020202c3222322c00000000001c2220221c00000002021a2622261a00000000001c223e201c0000"
    "000c12103c10101000000000001e22221e02221c0020202c322222220000000800180808081c00000002000602020212120c"
    "00202022243824220000001808080808081c0000000000342a2a2a2200000000002c3222222200000000001c2222221c0000"
    "0000002c3222322c20200000001a2622261a02020000002c3220202000000000001c201c023c00000010103c1010120c0000"
    "000000222222261a00000000002222141408000000000022222a2a140000000000221408142200000000002222261a02221c"
    "0000003e0408103e000000060804180408060000000808080808080800000018040806080418000000122a24000000000000"
)
_GLYPH_HEX = GLYPH_H * 2


def glyph(char):
    """Ten row masks (bit 5 is the leftmost pixel) for a printable ASCII character; '?' otherwise."""
    code = ord(char)
    if not 32 <= code <= 126:
        code = ord('?')
    start = (code - 32) * _GLYPH_HEX
    return [int(_FONT[start + 2 * r:start + 2 * r + 2], 16) for r in range(GLYPH_H)]


class Canvas:
    """An RGB image in memory, drawn on with rectangles and text, written out as a PNG."""

    def __init__(self, width, height, background=(255, 255, 255)):
        self.width, self.height = int(width), int(height)
        self.pixels = bytearray(bytes(bytearray(background)) * (self.width * self.height))

    def rect(self, x, y, w, h, colour):
        x0, y0 = max(0, int(x)), max(0, int(y))
        x1, y1 = min(self.width, int(x + w)), min(self.height, int(y + h))
        if x1 <= x0 or y1 <= y0:
            return
        row = bytes(bytearray(colour)) * (x1 - x0)
        for yy in range(y0, y1):
            start = (yy * self.width + x0) * 3
            self.pixels[start:start + len(row)] = row

    def text(self, x, y, text, colour=(0, 0, 0), scale=1):
        """Draw text with its top left corner at (x, y); returns the x after it."""
        for char in text:
            rows = glyph(char)
            for r, mask in enumerate(rows):
                for c in range(GLYPH_W):
                    if mask & (1 << (GLYPH_W - 1 - c)):
                        self.rect(x + c * scale, y + r * scale, scale, scale, colour)
            x += GLYPH_W * scale
        return x

    @staticmethod
    def text_width(text, scale=1):
        return len(text) * GLYPH_W * scale

    def png(self):
        raw = bytearray()
        stride = self.width * 3
        for y in range(self.height):
            raw.append(0)  # filter type None
            raw += self.pixels[y * stride:(y + 1) * stride]
        return b''.join([
            b'\x89PNG\r\n\x1a\n',
            _chunk(b'IHDR', struct.pack('>IIBBBBB', self.width, self.height, 8, 2, 0, 0, 0)),
            _chunk(b'IDAT', zlib.compress(bytes(raw), 9)),
            _chunk(b'IEND', b''),
        ])


def _chunk(kind, body):
    return struct.pack('>I', len(body)) + kind + body + struct.pack('>I', zlib.crc32(kind + body) & 0xFFFFFFFF)


def fit(text, width, scale=1):
    """text cut (with '..') to fit in width pixels."""
    most = max(1, width // (GLYPH_W * scale))
    return text if len(text) <= most else text[:max(0, most - 2)] + '..'
