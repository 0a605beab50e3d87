// A small JSON reader, writer and comparison for the tests (no JSON library is on the classpath: only the
// Kotlin standard library and JNA). Numbers keep their text and compare as BigDecimal, so nothing is ever
// read as a binary float.
package org.micropower.tests

import java.math.BigDecimal

/** A JSON number, as written. */
data class JsonNumber(val text: String) {
    val decimal: BigDecimal get() = BigDecimal(text)
    val isInteger: Boolean get() = !text.contains('.') && !text.contains('e') && !text.contains('E')
}

class JsonError(message: String) : Exception(message)

/** null, Boolean, String, JsonNumber, List<Any?> or Map<String, Any?> (in document order). */
fun parseJson(text: String): Any? {
    val p = JsonParser(text)
    val value = p.value()
    p.skipSpace()
    if (p.i != text.length) throw JsonError("trailing text at ${p.i}")
    return value
}

private class JsonParser(val s: String) {
    var i = 0

    fun skipSpace() {
        while (i < s.length && s[i].isWhitespace()) i++
    }

    fun value(): Any? {
        skipSpace()
        if (i >= s.length) throw JsonError("unexpected end")
        return when (val c = s[i]) {
            '{' -> obj()
            '[' -> arr()
            '"' -> str()
            't' -> literal("true", true)
            'f' -> literal("false", false)
            'n' -> literal("null", null)
            else -> if (c == '-' || c.isDigit()) num() else throw JsonError("unexpected '$c' at $i")
        }
    }

    private fun literal(word: String, v: Any?): Any? {
        if (!s.startsWith(word, i)) throw JsonError("bad literal at $i")
        i += word.length
        return v
    }

    private fun num(): JsonNumber {
        val start = i
        while (i < s.length && (s[i].isDigit() || s[i] in "+-.eE")) i++
        return JsonNumber(s.substring(start, i))
    }

    private fun str(): String {
        val out = StringBuilder()
        i++ // opening quote
        while (true) {
            if (i >= s.length) throw JsonError("unterminated string")
            val c = s[i++]
            when (c) {
                '"' -> return out.toString()
                '\\' -> {
                    when (val e = s[i++]) {
                        '"' -> out.append('"')
                        '\\' -> out.append('\\')
                        '/' -> out.append('/')
                        'b' -> out.append('\b')
                        'f' -> out.append('\u000c')
                        'n' -> out.append('\n')
                        'r' -> out.append('\r')
                        't' -> out.append('\t')
                        'u' -> {
                            out.append(s.substring(i, i + 4).toInt(16).toChar())
                            i += 4
                        }
                        else -> throw JsonError("bad escape \\$e")
                    }
                }
                else -> out.append(c)
            }
        }
    }

    private fun arr(): List<Any?> {
        val out = ArrayList<Any?>()
        i++
        skipSpace()
        if (s[i] == ']') {
            i++
            return out
        }
        while (true) {
            out.add(value())
            skipSpace()
            when (s[i++]) {
                ',' -> continue
                ']' -> return out
                else -> throw JsonError("expected , or ] at ${i - 1}")
            }
        }
    }

    private fun obj(): Map<String, Any?> {
        val out = LinkedHashMap<String, Any?>()
        i++
        skipSpace()
        if (s[i] == '}') {
            i++
            return out
        }
        while (true) {
            skipSpace()
            val key = str()
            skipSpace()
            if (s[i++] != ':') throw JsonError("expected : at ${i - 1}")
            out[key] = value()
            skipSpace()
            when (s[i++]) {
                ',' -> continue
                '}' -> return out
                else -> throw JsonError("expected , or } at ${i - 1}")
            }
        }
    }
}

/** Writes a value built from null, Boolean, String, numbers, lists and maps. */
fun writeJson(v: Any?): String = StringBuilder().also { write(it, v) }.toString()

private fun write(out: StringBuilder, v: Any?) {
    when (v) {
        null -> out.append("null")
        is Boolean -> out.append(v.toString())
        is JsonNumber -> out.append(v.text)
        is Int, is Long, is UInt, is ULong -> out.append(v.toString())
        is BigDecimal -> out.append(v.toPlainString())
        is String -> {
            out.append('"')
            for (c in v) {
                when {
                    c == '"' -> out.append("\\\"")
                    c == '\\' -> out.append("\\\\")
                    c == '\n' -> out.append("\\n")
                    c == '\r' -> out.append("\\r")
                    c == '\t' -> out.append("\\t")
                    c < ' ' -> out.append(String.format("\\u%04x", c.code))
                    else -> out.append(c)
                }
            }
            out.append('"')
        }
        is List<*> -> {
            out.append('[')
            v.forEachIndexed { n, e ->
                if (n > 0) out.append(',')
                write(out, e)
            }
            out.append(']')
        }
        is Map<*, *> -> {
            out.append('{')
            var first = true
            for ((k, e) in v) {
                if (!first) out.append(',')
                first = false
                write(out, k.toString())
                out.append(':')
                write(out, e)
            }
            out.append('}')
        }
        else -> throw JsonError("cannot write ${v::class}")
    }
}

/** Exact JSON equality: same keys, same order of list items, numbers equal as decimals. */
fun jsonEquals(a: Any?, b: Any?): Boolean = when {
    a == null || b == null -> a == null && b == null
    a is Map<*, *> && b is Map<*, *> -> a.keys == b.keys && a.keys.all { jsonEquals(a[it], b[it]) }
    a is List<*> && b is List<*> -> a.size == b.size && a.indices.all { jsonEquals(a[it], b[it]) }
    a is JsonNumber || b is JsonNumber -> numberOf(a)?.let { x -> numberOf(b)?.let { y -> x.compareTo(y) == 0 } } == true
    else -> a == b
}

private fun numberOf(v: Any?): BigDecimal? = when (v) {
    is JsonNumber -> v.decimal
    is Int -> BigDecimal(v)
    is Long -> BigDecimal(v)
    is UInt -> BigDecimal(v.toString())
    is ULong -> BigDecimal(v.toString())
    else -> null
}
