// The chat page of `mimo serve`: talks to this server's own /v1/chat/completions with streaming, keeps
// conversations in localStorage, and renders every piece of model output through textContent (markdown.js).
import { renderMarkdown } from './markdown.js';

const STORAGE_KEY = 'mimo-chat';
const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
// MiMo-V2-Flash's model card: top-p 0.95 with temperature 0.8 (general) or 0.3 (agentic use).
const PRESETS = { general: { temperature: 0.8, topP: 0.95 }, agentic: { temperature: 0.3, topP: 0.95 } };
const DEFAULT_SETTINGS = { system: null, thinking: false, temperature: 0.8, topP: 0.95, maxTokens: 1024, apiKey: '' };

const $ = id => document.getElementById(id);
const ui = {
  messages: $('messages'), input: $('input'), send: $('send'), stop: $('stop'), newChat: $('new-chat'),
  conversations: $('conversations'), model: $('model-name'), system: $('system-prompt'), resetSystem: $('reset-system'),
  thinking: $('thinking'), temperature: $('temperature'), topP: $('top-p'), maxTokens: $('max-tokens'), apiKey: $('api-key'),
  presetGeneral: $('preset-general'), presetAgentic: $('preset-agentic'),
};

/** The model card's recommended system prompt with today's date and weekday filled in. */
export function defaultSystemPrompt(now = new Date()) {
  const pad = n => String(n).padStart(2, '0');
  const date = `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
  return `You are MiMo, an AI assistant developed by Xiaomi.\n\nToday's date: ${date} ${WEEKDAYS[now.getDay()]}. Your knowledge cutoff date is December 2024.`;
}

let state = load();
let modelId = null;
let active = null; // the streaming reply: { conversation, message, controller }

function load() {
  let saved = null;
  try {
    saved = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? 'null');
  } catch {
    saved = null;
  }
  const loaded = {
    conversations: Array.isArray(saved?.conversations) ? saved.conversations : [],
    currentId: saved?.currentId ?? null,
    settings: { ...DEFAULT_SETTINGS, ...(saved?.settings ?? {}) },
  };
  // A reply that was streaming when the page went away was cut there.
  for (const c of loaded.conversations)
    for (const m of c.messages ?? []) if (m.status === 'streaming') m.status = 'stopped';
  if (!loaded.conversations.some(c => c.id === loaded.currentId)) loaded.currentId = loaded.conversations[0]?.id ?? null;
  return loaded;
}

function save() {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(state));
  } catch (e) {
    console.warn('could not save the conversation:', e);
  }
}

const current = () => state.conversations.find(c => c.id === state.currentId) ?? null;

function newConversation() {
  const conversation = { id: `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`, title: 'New chat', messages: [] };
  state.conversations.unshift(conversation);
  state.currentId = conversation.id;
  return conversation;
}

// ---- settings ----

function showSettings() {
  const s = state.settings;
  ui.system.value = s.system ?? defaultSystemPrompt();
  ui.thinking.checked = !!s.thinking;
  ui.temperature.value = s.temperature;
  ui.topP.value = s.topP;
  ui.maxTokens.value = s.maxTokens ?? '';
  ui.apiKey.value = s.apiKey ?? '';
}

function readSettings() {
  const s = state.settings;
  s.system = ui.system.value === defaultSystemPrompt() ? null : ui.system.value;
  s.thinking = ui.thinking.checked;
  s.temperature = numberOr(ui.temperature.value, DEFAULT_SETTINGS.temperature);
  s.topP = numberOr(ui.topP.value, DEFAULT_SETTINGS.topP);
  s.maxTokens = ui.maxTokens.value === '' ? null : Math.max(1, Math.round(numberOr(ui.maxTokens.value, DEFAULT_SETTINGS.maxTokens)));
  s.apiKey = ui.apiKey.value.trim();
  save();
}

/** The request headers, with the API key the user entered (servers started with --api-key require it). */
function apiHeaders(headers) {
  const key = state.settings.apiKey;
  if (key) headers.Authorization = `Bearer ${key}`;
  return headers;
}

function numberOr(text, fallback) {
  const n = Number(text);
  return text !== '' && Number.isFinite(n) ? n : fallback;
}

// ---- rendering ----

function renderConversations() {
  ui.conversations.replaceChildren(...state.conversations.map(c => {
    const li = document.createElement('li');
    li.className = c.id === state.currentId ? 'current' : '';
    const open = document.createElement('button');
    open.type = 'button';
    open.className = 'open';
    open.textContent = c.title;
    open.title = c.title;
    open.addEventListener('click', () => {
      state.currentId = c.id;
      save();
      renderAll();
    });
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'delete';
    remove.textContent = '×';
    remove.title = 'Delete this conversation';
    remove.addEventListener('click', () => {
      if (active?.conversation === c) active.controller.abort();
      state.conversations = state.conversations.filter(x => x !== c);
      if (state.currentId === c.id) state.currentId = state.conversations[0]?.id ?? null;
      save();
      renderAll();
    });
    li.append(open, remove);
    return li;
  }));
}

function renderMessages() {
  const conversation = current();
  const messages = conversation?.messages ?? [];
  if (messages.length === 0) {
    const empty = document.createElement('div');
    empty.className = 'empty';
    empty.textContent = 'Ask MiMo anything. Everything stays on this machine.';
    ui.messages.replaceChildren(empty);
    return;
  }
  ui.messages.replaceChildren(...messages.map(messageElement));
  ui.messages.scrollTop = ui.messages.scrollHeight;
}

function messageElement(message) {
  const element = document.createElement('article');
  element.className = `message ${message.role}`;
  fillMessage(element, message);
  return element;
}

function fillMessage(element, message) {
  element.dataset.status = message.status ?? 'done';
  const parts = [];
  const role = document.createElement('div');
  role.className = 'role';
  role.textContent = message.role === 'user' ? 'You' : 'MiMo';
  parts.push(role);

  if (message.reasoning) {
    const details = document.createElement('details');
    details.className = 'reasoning';
    // Open while the model is still thinking; folded once the answer begins or is done.
    details.open = message.status === 'streaming' && !message.content && !(message.toolCalls?.length);
    const summary = document.createElement('summary');
    summary.textContent = message.status === 'streaming' && details.open ? 'Thinking…' : 'Reasoning';
    const body = document.createElement('div');
    body.className = 'reasoning-text';
    body.textContent = message.reasoning;
    details.append(summary, body);
    parts.push(details);
  }

  if (message.role === 'user') {
    const content = document.createElement('div');
    content.className = 'content plain';
    content.textContent = message.content;
    parts.push(content);
  } else if (message.content || message.status !== 'streaming') {
    const content = renderMarkdown(message.content, { onCopy: copyText });
    content.classList.add('content');
    parts.push(content);
  } else if (!message.reasoning) {
    const typing = document.createElement('div');
    typing.className = 'content typing';
    typing.textContent = '…';
    parts.push(typing);
  }

  for (const call of message.toolCalls ?? []) parts.push(toolCallElement(call));

  if (message.error) {
    const error = document.createElement('div');
    error.className = 'error';
    error.textContent = message.error;
    parts.push(error);
  }

  const footer = document.createElement('div');
  footer.className = 'footer';
  if (message.role === 'assistant') {
    const stats = document.createElement('span');
    stats.className = 'stats';
    stats.textContent = statsText(message);
    footer.append(stats);
  }
  if (message.status !== 'streaming') {
    const copy = document.createElement('button');
    copy.type = 'button';
    copy.className = 'copy';
    copy.textContent = 'Copy';
    copy.title = 'Copy this message';
    copy.addEventListener('click', () => copyText(message.content, copy));
    footer.append(copy);
  }
  parts.push(footer);
  element.replaceChildren(...parts);
}

function toolCallElement(call) {
  const box = document.createElement('div');
  box.className = 'tool-call';
  const head = document.createElement('div');
  head.className = 'tool-name';
  head.textContent = `Tool call: ${call.name}`;
  const args = document.createElement('pre');
  let text = call.arguments ?? '';
  try {
    text = JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    // still streaming, or not JSON: show it as sent
  }
  args.textContent = text;
  box.append(head, args);
  return box;
}

function statsText(message) {
  const s = message.stats;
  const parts = [];
  if (message.status === 'stopped') parts.push('stopped');
  if (s) {
    if (s.tokens != null) parts.push(`${s.tokens} tokens`);
    if (s.tokensPerSecond) parts.push(`${s.tokensPerSecond.toFixed(1)} tok/s`);
    if (s.ttftMs != null) parts.push(`TTFT ${Math.round(s.ttftMs)} ms`);
    if (s.acceptanceLength) parts.push(`acceptance ${s.acceptanceLength.toFixed(2)}${s.draftDepth != null ? ` (MTP ${s.draftDepth})` : ''}`);
  }
  if (message.finishReason === 'length') parts.push('hit max tokens');
  return parts.join(' · ');
}

function renderAll() {
  renderConversations();
  renderMessages();
}

let pending = false;
function renderActiveSoon() {
  if (pending) return;
  pending = true;
  setTimeout(() => {
    pending = false;
    if (!active || active.conversation !== current()) return;
    const element = ui.messages.lastElementChild;
    if (element?.classList.contains('assistant')) fillMessage(element, active.message);
    const nearBottom = ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 120;
    if (nearBottom) ui.messages.scrollTop = ui.messages.scrollHeight;
  }, 16);
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = document.createElement('textarea');
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand('copy');
    area.remove();
  }
  const label = button.textContent;
  button.textContent = 'Copied';
  setTimeout(() => { button.textContent = label; }, 1200);
}

// ---- talking to the server ----

function apiMessages(conversation, upTo) {
  const messages = [];
  const system = state.settings.system ?? defaultSystemPrompt();
  if (system.trim() !== '') messages.push({ role: 'system', content: system });
  for (const m of conversation.messages.slice(0, upTo)) {
    if (m.role === 'assistant' && m.status === 'error' && !m.content) continue;
    messages.push({ role: m.role, content: m.content ?? '' });
  }
  return messages;
}

async function send() {
  const text = ui.input.value;
  if (text.trim() === '' || active) return;
  readSettings();
  const conversation = current() ?? newConversation();
  if (conversation.messages.length === 0) conversation.title = text.trim().split('\n')[0].slice(0, 48);
  conversation.messages.push({ role: 'user', content: text });
  const message = { role: 'assistant', content: '', reasoning: '', toolCalls: [], status: 'streaming' };
  conversation.messages.push(message);
  ui.input.value = '';
  const controller = new AbortController();
  active = { conversation, message, controller };
  setStreaming(true);
  save();
  renderAll();

  const s = state.settings;
  const body = {
    model: modelId ?? undefined,
    messages: apiMessages(conversation, conversation.messages.length - 1),
    stream: true,
    stream_options: { include_usage: true },
    temperature: s.temperature,
    top_p: s.topP,
    chat_template_kwargs: { enable_thinking: s.thinking },
  };
  if (s.maxTokens) body.max_tokens = s.maxTokens;
  const started = performance.now();
  try {
    const response = await fetch('/v1/chat/completions', {
      method: 'POST', headers: apiHeaders({ 'Content-Type': 'application/json' }), body: JSON.stringify(body), signal: controller.signal,
    });
    if (!response.ok) {
      const error = await response.json().catch(() => null);
      throw new Error(error?.error?.message ?? `the server answered ${response.status}`);
    }
    await readStream(response, message, started);
    message.status = 'done';
  } catch (e) {
    if (e.name === 'AbortError') {
      message.status = 'stopped';
    } else {
      message.status = 'error';
      message.error = e.message;
    }
  } finally {
    if (active?.message === message) active = null;
    setStreaming(false);
    save();
    if (conversation === current()) renderMessages();
  }
}

async function readStream(response, message, started) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split('\n')) {
        if (!line.startsWith('data:')) continue;
        const data = line.slice(5).trim();
        if (data === '[DONE]') return;
        apply(JSON.parse(data), message, started);
      }
    }
  }
}

function apply(chunk, message, started) {
  if (chunk.error) throw new Error(chunk.error.message ?? 'the server reported an error');
  const choice = chunk.choices?.[0];
  const delta = choice?.delta;
  if (delta) {
    if (delta.reasoning_content || delta.content || delta.tool_calls) {
      message.stats ??= {};
      message.stats.ttftMs ??= performance.now() - started;
    }
    if (delta.reasoning_content) message.reasoning += delta.reasoning_content;
    if (delta.content) message.content += delta.content;
    for (const call of delta.tool_calls ?? []) {
      const index = call.index ?? message.toolCalls.length;
      const known = message.toolCalls[index] ?? (message.toolCalls[index] = { id: call.id, name: '', arguments: '' });
      if (call.function?.name) known.name += call.function.name;
      if (call.function?.arguments) known.arguments += call.function.arguments;
    }
  }
  if (choice?.finish_reason) message.finishReason = choice.finish_reason;
  if (chunk.usage) {
    const mimo = chunk.usage.mimo ?? {};
    message.stats = {
      ...(message.stats ?? {}),
      tokens: chunk.usage.completion_tokens,
      tokensPerSecond: mimo.tokens_per_second,
      ttftMs: mimo.time_to_first_token_ms ?? message.stats?.ttftMs,
      acceptanceLength: mimo.acceptance_length,
      draftDepth: mimo.draft_depth,
    };
  }
  renderActiveSoon();
}

function setStreaming(on) {
  ui.send.hidden = on;
  ui.stop.hidden = !on;
  document.body.classList.toggle('streaming', on);
}

async function loadModel() {
  try {
    const response = await fetch('/v1/models', { headers: apiHeaders({}) });
    const models = await response.json();
    modelId = models.data?.[0]?.id ?? null;
    ui.model.textContent = modelId ? `${modelId} · served locally` : 'no model';
  } catch {
    ui.model.textContent = 'the server is not reachable';
  }
}

// ---- wiring ----

ui.input.addEventListener('keydown', e => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    send();
  }
});
ui.send.addEventListener('click', send);
ui.stop.addEventListener('click', () => active?.controller.abort());
ui.newChat.addEventListener('click', () => {
  const c = current();
  if (!c || c.messages.length > 0) newConversation();
  save();
  renderAll();
  ui.input.focus();
});
for (const input of [ui.system, ui.thinking, ui.temperature, ui.topP, ui.maxTokens, ui.apiKey]) input.addEventListener('change', readSettings);
ui.resetSystem.addEventListener('click', () => {
  ui.system.value = defaultSystemPrompt();
  readSettings();
});
const applyPreset = preset => {
  ui.temperature.value = preset.temperature;
  ui.topP.value = preset.topP;
  readSettings();
};
ui.presetGeneral.addEventListener('click', () => applyPreset(PRESETS.general));
ui.presetAgentic.addEventListener('click', () => applyPreset(PRESETS.agentic));

showSettings();
renderAll();
loadModel();
ui.input.focus();
document.body.dataset.ready = 'true';
