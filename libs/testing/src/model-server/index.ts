export * from './agent-tools';
export * from './model-server';
export type { Conversation, ProviderName, ToolResult } from './provider';
export * from './script';
export { parseSse } from './sse';
